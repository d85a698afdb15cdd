"""Asyncio load generator, used when wrk is not installed: `python -m bench.receiver.loadgen`.

Two modes, each printing one JSON line {"requests", "errors", "seconds", "rps", "p50_ms",
"p99_ms"}:
- `--connections N`: closed loop, N connections each sending as fast as answers come
  (the maximum rate);
- `--rate R`: open loop, requests started on a fixed schedule whatever the answers do,
  so that latency includes queueing (no coordinated omission).
It runs in its own process so that it does not share an event loop with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import orjson


async def closed_loop(url: str, connections: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url, allow_redirects=False) as response:
                    await response.read()
                    if response.status >= 400:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


async def open_loop(url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(scheduled: float) -> None:
            nonlocal errors
            async with session.get(url, allow_redirects=False) as response:
                await response.read()
                if response.status >= 400:
                    errors += 1
            latencies.append(time.perf_counter() - scheduled)  # from when it was due

        start = time.perf_counter()
        tasks = []
        for n in range(int(rate * seconds)):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    return latencies, errors


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0

    return {"requests": len(ordered), "errors": errors, "seconds": seconds,
            "rps": len(ordered) / seconds, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=8.0)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--connections", type=int)
    mode.add_argument("--rate", type=float)
    args = parser.parse_args()
    started = time.perf_counter()
    if args.connections:
        latencies, errors = asyncio.run(closed_loop(args.url, args.connections, args.seconds))
    else:
        latencies, errors = asyncio.run(open_loop(args.url, args.rate, args.seconds))
    print(orjson.dumps(summary(latencies, errors, time.perf_counter() - started)).decode())


if __name__ == "__main__":
    main()
