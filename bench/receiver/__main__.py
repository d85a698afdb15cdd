"""`make bench-receiver`: requests/s and latency of the receiver against a bare aiohttp handler.

Starts an embedded broker, a bare aiohttp handler (`bare.py`) and `hopstream receiver`, each
in its own process, then for each target: the maximum rate (64 connections), and the p50/p99
latency at 80% of that rate, each measured --repeat times with the targets interleaved, and
reports medians. It also reports each server's CPU time per request: with load generator,
broker and servers on a few shared cores, that is the figure other load disturbs least.
The load generator is wrk, installed with apt-get if missing and possible, else the
asyncio generator in `loadgen.py` (also a separate process). The baseline is measured in
the same run, on the same machine, so the ratios are what counts: the machine is shared
and noisy, absolute numbers move from run to run.

Goal: postbacks at >= 0.7 of the bare handler's rate, p99 <= 25 ms at 80% of the maximum.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.receiver.wrk import find_wrk, run_wrk
from hopstream.settings import Settings
from services.kafka.admin import ensure_topics
from services.kafka.broker import EmbeddedBroker, free_port, wait_for_port

POSTBACK = ("/api/v1/events?click_id=0190f1a2b3c47d8e9fa0b1c2d3e4f5a6&event_parameter=purchase"
            "&payout=37.45&receipt=P3RGBKGB&currency=USD")
CLICK = "/c/keto?traffic_source=bench&campaign=spring&aff_sub1=s1"


@contextmanager
def process(args: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[int]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port("127.0.0.1", port, 60)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(url: str, wrk: str | None, connections: int, seconds: float,
            rate: float | None = None) -> dict[str, float]:
    if wrk is not None:
        if not rate:
            return run_wrk(wrk, url, connections, seconds)
        # Each connection waits between requests so that together they offer about `rate`
        # requests/s: a short run measures the time each request itself takes, and the
        # wait is what is left of each connection's period.
        period_ms = connections / rate * 1000
        probe = run_wrk(wrk, url, connections, 2, period_ms)
        busy_ms = max(0.0, connections / probe["rps"] * 1000 - period_ms)
        return run_wrk(wrk, url, connections, seconds, max(0.0, period_ms - busy_ms))
    mode = ["--rate", str(rate)] if rate else ["--connections", str(connections)]
    out = subprocess.run([sys.executable, "-m", "bench.receiver.loadgen", url,
                          "--seconds", str(seconds), *mode],
                         check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = orjson.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench-receiver", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per target")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "asyncio"], default="auto")
    args = parser.parse_args()
    wrk = None if args.loadgen == "asyncio" else find_wrk(install=True)
    if args.loadgen == "wrk" and wrk is None:
        print("bench: wrk is required (--loadgen wrk) and could not be installed")
        return 2
    print(f"bench: load generator: {'wrk' if wrk else 'asyncio (loadgen.py)'}, "
          f"{args.connections} connections, {args.seconds:.0f}s per run, {args.repeat} "
          f"interleaved runs per target, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="hopstream-bench-") as tmp, \
            EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
        settings = Settings.from_env({}, data_dir=Path(tmp), partitions=8,
                                     kafka_bootstrap_servers=broker.bootstrap_servers,
                                     receiver_port=free_port(), log_level="WARNING")
        asyncio.run(ensure_topics(settings))
        env = {**os.environ, **settings.to_env()}
        bare_port = free_port()
        with process([sys.executable, "-m", "bench.receiver.bare", str(bare_port)], bare_port,
                     env, Path(tmp) / "bare.log") as bare, \
                process([sys.executable, "-m", "hopstream", "receiver"], settings.receiver_port,
                        env, Path(tmp) / "receiver.log") as receiver:
            ours = f"http://127.0.0.1:{settings.receiver_port}"
            targets = {"bare handler": (f"http://127.0.0.1:{bare_port}{POSTBACK}", bare),
                       "postback": (ours + POSTBACK, receiver), "click": (ours + CLICK, receiver)}
            results = run(targets, wrk, args.connections, args.seconds, args.repeat)
    report(results)
    return 0


def run(targets: dict[str, tuple[str, int]], wrk: str | None, connections: int,
        seconds: float, repeat: int) -> dict[str, Results]:
    """Each repetition measures every target in turn, so that whatever else loads the
    machine at the time weighs on all of them alike; the latency runs follow, at 80% of
    each target's median maximum."""
    results = {name: Results() for name in targets}
    for url, _ in targets.values():
        measure(url, wrk, connections, 2)  # warm-up: connections, caches, the broker's topics
    for n in range(repeat):
        for name, (url, pid) in targets.items():
            before = cpu_seconds(pid)
            peak = measure(url, wrk, connections, seconds)
            used = cpu_seconds(pid) - before
            peak["cpu_us"] = used / max(1.0, peak["requests"]) * 1e6 if used >= 0 else 0.0
            results[name].peak.append(peak)
            print(f"bench: run {n + 1}/{repeat}: {name}: {peak['rps']:.0f} req/s max, "
                  f"{peak['cpu_us']:.0f} us server CPU per request", flush=True)
    for _ in range(repeat):
        for name, (url, _) in targets.items():
            rate = 0.8 * results[name].median("peak", "rps")
            results[name].at80.append(measure(url, wrk, connections, seconds, rate=rate))
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; -1 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Results:
    peak: list[dict[str, float]] = field(default_factory=list)
    at80: list[dict[str, float]] = field(default_factory=list)

    def median(self, runs: str, key: str) -> float:
        found: list[dict[str, float]] = getattr(self, runs)
        return statistics.median(r[key] for r in found)


def report(results: dict[str, Results]) -> None:
    base = results["bare handler"]
    base_rps, base_cpu = base.median("peak", "rps"), base.median("peak", "cpu_us")
    print("\nmedians of the interleaved runs; ratios against the bare handler's medians")
    print(f"{'target':<14}{'max req/s':>10}{'ratio':>7}{'CPU us/req':>11}{'CPU ratio':>10}"
          f"{'p99 ms':>8}{'  | at 80%: req/s':>17}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}")
    for name, r in results.items():
        rps, cpu = r.median("peak", "rps"), r.median("peak", "cpu_us")
        errors = sum(int(x["errors"]) for x in r.peak + r.at80)
        print(f"{name:<14}{rps:>10.0f}{rps / base_rps:>7.2f}{cpu:>11.0f}"
              f"{base_cpu / cpu if cpu else 0:>10.2f}{r.median('peak', 'p99_ms'):>8.1f}"
              f"{r.median('at80', 'rps'):>17.0f}{r.median('at80', 'p50_ms'):>8.1f}"
              f"{r.median('at80', 'p99_ms'):>8.1f}{errors:>8}")
    ratio = results["postback"].median("peak", "rps") / base_rps
    p99 = results["postback"].median("at80", "p99_ms")
    print(f"\npostback/bare ratio {ratio:.2f} (goal >= 0.70): {_verdict(ratio >= 0.7)}; "
          f"postback p99 at 80% {p99:.1f} ms (goal <= 25): {_verdict(p99 <= 25)}")
    print("CPU ratio = the bare handler's server CPU per request / this target's: the share "
          "of the bare\nhandler's rate a server process could reach with a core of its own.")


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
