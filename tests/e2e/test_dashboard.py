"""The dashboard as a person sees it: pipeline, a short simulation, headless Chromium.

`hopstream dev`, then `hopstream simulate` against it (a short run, a short late-click
grace so `unknown_click` settles too); ClickHouse must reach the simulator's expected
totals; then the page, opened in Chromium, must show what ClickHouse holds (read here
with the test's own SQL). The screenshot is kept in artifacts/dashboard.png.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.browser import Browser
from tests.e2e.test_dev import Dev
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.clickhouse]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
GRACE_S = "2"


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    running = Dev(tmp_path / "data", {"HOPSTREAM_LATE_CLICK_GRACE_S": GRACE_S,
                                      "HOPSTREAM_DASHBOARD_REFRESH_S": "1"})
    try:
        yield running
    finally:
        running.stop()


def simulate(dev: Dev, summary: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "hopstream", "simulate", "--data-dir", str(dev.data_dir),
         "--receiver-port", str(dev.receiver_port), "--rate", "20", "--duration", "8",
         "--seed", "20261126", "--summary-json", str(summary)],
        env={**dev.env, "HOPSTREAM_DASHBOARD_PORT": str(dev.dashboard_port)},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "expected totals" in result.stdout and "dashboard for this run" in result.stdout
    data: dict[str, Any] = orjson.loads(summary.read_bytes())
    return data


def holdings(dev: Dev, since: str) -> dict[str, Any]:
    """What ClickHouse holds for the run, with the test's own queries (conversions: credits,
    not kpi events nor reversals; payout: every row)."""
    def rows(sql: str) -> list[list[str]]:
        text = dev.query(sql.replace("{since}", f"parseDateTime64BestEffort('{since}', 3)"))
        return [line.split("\t") for line in text.decode().splitlines()]

    offers = rows("SELECT offer_id, sum(c), sum(n), sum(p) FROM ("
                  " SELECT offer_id, count() c, 0 n, toDecimal128(0, 6) p FROM "
                  "hopstream.clicks FINAL WHERE clicked_at >= {since} GROUP BY offer_id"
                  " UNION ALL SELECT offer_id, 0, countIf(kind = 'credit'), sum(payout) FROM "
                  "hopstream.conversions FINAL WHERE converted_at >= {since} GROUP BY offer_id"
                  ") GROUP BY offer_id ORDER BY offer_id")
    issues = rows("SELECT reason, count() FROM hopstream.postback_issues FINAL "
                  "WHERE received_at >= {since} GROUP BY reason ORDER BY reason")
    return {
        "clicks": {o: int(c) for o, c, _, _ in offers if int(c)},
        "conversions": {o: int(n) for o, _, n, _ in offers if int(n)},
        "payout": {o: Decimal(p) for o, _, _, p in offers},
        "issues": {reason: int(n) for reason, n in issues},
    }


def expected_holdings(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "clicks": {o: n for o, n in summary["clicks"].items() if n},
        "conversions": {o: n for o, n in summary["conversions"].items() if n},
        "payout": {o: Decimal(p) for o, p in summary["payout"].items()},
        "issues": summary["issues"],
    }


PAGE_STATE = """(() => {
  if (!document.querySelector("[data-metric]")) return null;  // still navigating
  const metric = (n) => document.querySelector(`[data-metric="${n}"]`);
  const table = (n) => [...document.querySelectorAll(`[data-table="${n}"] tr[data-key]`)]
    .map((tr) => [...tr.cells].map((td) => td.dataset.value));
  return {
    state: document.body.dataset.state,
    tiles: Object.fromEntries(["clicks", "conversions", "payout", "cr", "epc", "issues"]
      .map((n) => [n, [metric(n).dataset.value, metric(n).textContent]])),
    offers: table("offer"), issues: table("issues"),
    charts: document.querySelectorAll(".uplot canvas").length,
  };
})()"""


def cents(value: Decimal) -> str:
    rounded = abs(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return ("-" if value < 0 and rounded else "") + f"${rounded:,}"


async def test_dashboard_shows_what_clickhouse_holds(dev: Dev, tmp_path: Path) -> None:
    ready = dev.wait_ready()
    assert f"dashboard http://127.0.0.1:{dev.dashboard_port}/" in ready

    summary = simulate(dev, tmp_path / "summary.json")
    since = summary["since"]
    assert sum(summary["clicks"].values()) > 100 and summary["issues"]
    expected = expected_holdings(summary)
    held = await eventually(lambda: (h := holdings(dev, since)) == expected and h,
                            within=60, what=f"ClickHouse reaching the expected totals {expected}")

    url = (f"http://127.0.0.1:{dev.dashboard_port}/?from={urllib.parse.quote(since)}")
    async with Browser(tmp_path / "chromium-profile") as browser:
        await browser.goto(url)

        async def page_matches() -> dict[str, Any] | None:
            page: dict[str, Any] | None = await browser.evaluate(PAGE_STATE)
            if page is None:
                return None
            tiles = page["tiles"]
            ok = (page["state"] == "ready"
                  and tiles["clicks"][0] == str(sum(held["clicks"].values()))
                  and tiles["issues"][0] == str(sum(held["issues"].values())))
            return page if ok else None

        page = await eventually(page_matches, within=30, what="the page showing the totals")
        shot = await browser.screenshot(ARTIFACTS / "dashboard.png")
        print(f"dashboard screenshot: {shot}")

    tiles = page["tiles"]
    clicks = sum(held["clicks"].values())
    conversions = sum(held["conversions"].values())
    payout = sum(held["payout"].values(), Decimal(0))
    assert tiles["conversions"][0] == str(conversions)
    assert Decimal(tiles["payout"][0]) == payout
    assert tiles["payout"][1] == cents(payout)
    assert tiles["clicks"][1] == f"{clicks:,}"
    assert Decimal(tiles["cr"][0]) == (Decimal(conversions) / clicks).quantize(Decimal("1e-6"))
    assert Decimal(tiles["epc"][0]) == (payout / clicks).quantize(Decimal("1e-6"))
    assert {row[0]: (int(row[1]), int(row[2]), Decimal(row[3])) for row in page["offers"]} == {
        o: (held["clicks"].get(o, 0), held["conversions"].get(o, 0), held["payout"][o])
        for o in held["payout"]}
    assert {row[0]: int(row[1]) for row in page["issues"]} == held["issues"]
    assert page["charts"] == 2, "both charts drawn"
