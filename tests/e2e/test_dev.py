"""`hopstream dev` as a user runs it: click -> redirect -> postback -> row in ClickHouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import orjson
import pytest

from services.kafka.broker import free_port

T = TypeVar("T")

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.clickhouse]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with OPENER.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Dev:
    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None,
                 simulate: bool = False) -> None:
        self.data_dir = data_dir
        self.receiver_port, self.clickhouse_port, self.kafka_port, self.dashboard_port = (
            free_port(), free_port(), free_port(), free_port()
        )
        self.log = data_dir.parent / f"dev-{time.monotonic_ns()}.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HOPSTREAM_", "KAFKA_", "CLICKHOUSE_"))}
        self.env = {**env, **(extra_env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hopstream", "dev", "--data-dir", str(data_dir),
             "--receiver-port", str(self.receiver_port),
             "--clickhouse-port", str(self.clickhouse_port),
             "--kafka-port", str(self.kafka_port), "--dashboard-port", str(self.dashboard_port),
             *(["--simulate"] if simulate else [])],
            stdout=self._out, stderr=subprocess.STDOUT, env=self.env,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, within: float = 120.0) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if "hopstream ready" in line:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no 'hopstream ready' line:\n{self.output()[-4000:]}")

    def query(self, sql: str) -> bytes:
        url = f"http://127.0.0.1:{self.clickhouse_port}/?query={urllib.parse.quote(sql)}"
        status, _, body = http(url)
        assert status == 200, body
        return body

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


def processes_using(data_dir: Path) -> list[int]:
    """Pids of live processes started with this data dir in their environment."""
    needle = f"HOPSTREAM_DATA_DIR={data_dir.resolve()}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                status = (entry / "status").read_text()
                if "State:\tZ" not in status:
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def wait_for(probe: object, within: float, what: str) -> object:
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = probe()  # type: ignore[operator]
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {within}s (last: {last!r})")


def wait_equal(probe: Callable[[], T], expected: T, within: float, what: str) -> None:
    """wait_for a value, and a failure says what the probe last returned."""
    seen: list[T] = []

    def matches() -> bool:
        seen.append(probe())
        return seen[-1] == expected

    try:
        wait_for(matches, within, what)
    except AssertionError:
        raise AssertionError(f"{what}: {seen[-1]!r} after {within}s, "
                             f"expected {expected!r}") from None


def breakdown(dev: Dev) -> str:
    """What ClickHouse holds per offer and per issue reason, to hold against the
    simulator's table when the totals differ."""
    return dev.query(
        "SELECT * FROM ("
        "SELECT 'clicks' AS what, offer_id, toString(count()) FROM hopstream.clicks FINAL "
        "GROUP BY offer_id "
        "UNION ALL SELECT concat('conversions ', kind, ' ', event), offer_id, "
        "toString(sum(payout)) FROM hopstream.conversions FINAL GROUP BY kind, event, offer_id "
        "UNION ALL SELECT concat('issue ', reason), offer_id, toString(count()) "
        "FROM hopstream.postback_issues FINAL GROUP BY reason, offer_id"
        ") ORDER BY what, offer_id FORMAT TSV").decode()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_click_to_clickhouse_and_a_clean_restart(data_dir: Path) -> None:
    dev = Dev(data_dir)
    try:
        ready = dev.wait_ready()
        assert f"http://127.0.0.1:{dev.receiver_port}" in ready

        status, headers, _ = http(f"http://127.0.0.1:{dev.receiver_port}/c/keto?traffic_source=t1")
        assert status == 302
        location = urllib.parse.urlsplit(headers["Location"])
        assert location.scheme == "https"
        click_id = urllib.parse.parse_qs(location.query)["tid"][0]

        status, _, body = http(
            f"http://127.0.0.1:{dev.receiver_port}/api/v1/events?click_id={click_id}"
            "&event_parameter=purchase&payout=37.45&receipt=P3RGBKGB"
        )
        assert status == 200, body
        assert orjson.loads(body)["status"] == "accepted"

        def conversion() -> bytes:
            return dev.query(
                "SELECT count(), sum(payout), any(traffic_source) "
                f"FROM hopstream.conversions FINAL WHERE click_id = '{click_id}'"
            )

        wait_for(lambda: not conversion().startswith(b"0\t"), 60, "the conversion row")
        assert conversion() == b"1\t37.45\tt1\n"
        # Usually in by now (the sink writes a batch's clicks first), but a fetch may have
        # returned the conversion before the click.
        wait_equal(lambda: dev.query(
            f"SELECT count() FROM hopstream.clicks FINAL WHERE click_id = '{click_id}'"),
            b"1\n", 30, "the click row")
        # The query interface is read-only.
        status, _, body = http(
            f"http://127.0.0.1:{dev.clickhouse_port}/?query="
            + urllib.parse.quote("DROP TABLE hopstream.conversions")
        )
        assert 400 <= status < 500 and b"Code:" in body
    finally:
        code = dev.stop()
    assert code == 0, dev.output()[-3000:]
    assert processes_using(data_dir) == [], "processes left behind after stop"

    # Same data dir again: ClickHouse data persists, the new broker starts empty, and the
    # worker's state is reset with it, so the pipeline comes up and keeps working.
    again = Dev(data_dir)
    try:
        again.wait_ready()
        assert again.query("SELECT count() FROM hopstream.conversions FINAL") == b"1\n"
        status, headers, _ = http(f"http://127.0.0.1:{again.receiver_port}/c/fitness")
        click_id = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)["tid"][0]
        http(f"http://127.0.0.1:{again.receiver_port}/api/v1/events?click_id={click_id}"
             "&event_parameter=purchase&payout=5")
        wait_for(lambda: again.query("SELECT count() FROM hopstream.conversions FINAL")
                 == b"2\n", 60, "the second conversion")
    finally:
        assert again.stop() == 0, again.output()[-3000:]


def test_make_run_simulates_traffic_that_adds_up_in_clickhouse(data_dir: Path) -> None:
    """What `make run` starts (`hopstream dev --simulate`): the simulated traffic's expected
    totals, as the simulator prints them, are what ClickHouse ends up holding."""
    # A fixed seed, so that a failure replays: this one's payout ends in a zero (361.80),
    # which ClickHouse prints as 361.8.
    dev = Dev(data_dir, {"HOPSTREAM_SIMULATE_DURATION_S": "4", "HOPSTREAM_SIMULATE_RATE": "20",
                         "HOPSTREAM_SIMULATE_SEED": "1051800893",
                         "HOPSTREAM_LATE_CLICK_GRACE_S": "2"}, simulate=True)
    try:
        dev.wait_ready()

        def totals() -> list[str] | None:
            for line in dev.output().splitlines():
                text = line.partition("|")[2].strip()  # "simulate|   total  80 ..."
                if line.startswith("simulate|") and text.startswith("total "):
                    return text.split()[1:]
            return None

        clicks, conversions, payout = wait_for(totals, 90, "the simulator's totals")  # type: ignore[misc]
        assert "UNEXPECTED" not in dev.output()
        # Compared as numbers: ClickHouse prints a Decimal sum without trailing zeros
        # (361.8), the simulator with cents (361.80).
        expected = (int(clicks), int(conversions), Decimal(payout.replace(",", "")))
        assert expected[0] > 0 and expected[1] > 0

        def held() -> tuple[int, int, Decimal]:
            row = dev.query(
                "SELECT (SELECT count() FROM hopstream.clicks FINAL), "
                "(SELECT countIf(kind = 'credit') FROM hopstream.conversions FINAL), "
                "(SELECT sum(payout) FROM hopstream.conversions FINAL)").decode().split()
            return int(row[0]), int(row[1]), Decimal(row[2])

        try:
            wait_equal(held, expected, 60, "clicks, credits, payout in ClickHouse")
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{breakdown(dev)}\n{dev.output()[-6000:]}") from None
    finally:
        code = dev.stop()
    assert code == 0, dev.output()[-3000:]
