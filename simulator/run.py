"""`hopstream simulate`: realistic ClickBank traffic against a running receiver.

Plans the whole run first (seeded), with each visit's expected outcome, then waits for the
receiver to be ready, starts the visits at the configured rate (each its own task, bounded
so a slow receiver makes the run late rather than unbounded), shows progress, and prints
what it sent and the totals the pipeline should reach. Exit status 1 if any answer was not
the expected one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import aiohttp
import orjson

from hopstream.offers import load_offers
from hopstream.receiver_sections import load_receiver_sections
from hopstream.settings import Settings
from simulator import report
from simulator.expect import Expected, Outcome, outcomes
from simulator.plan import Planner, Visit
from simulator.send import Sender

MAX_IN_FLIGHT = 64
READY_TIMEOUT_S = 60.0


async def wait_for_receiver(session: aiohttp.ClientSession, base_url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base_url}/readyz") as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}: {await response.text()}"
        except aiohttp.ClientError as exc:
            last = str(exc) or type(exc).__name__
        await asyncio.sleep(0.5)
    raise RuntimeError(f"receiver {base_url} not ready after {READY_TIMEOUT_S:.0f}s ({last})")


async def run_simulation(settings: Settings, summary_json: Path | None = None) -> int:
    offers = load_offers(settings.offers_file)
    accounts = load_receiver_sections(settings.offers_file, offers).accounts
    seed = settings.simulate_seed or random.SystemRandom().randrange(1, 2**31)
    planner = Planner(settings, offers, seed, ins=bool(accounts))
    visits = planner.visits(settings.simulate_rate, settings.simulate_duration_s)
    plans = [(visit, outcomes(visit)) for visit in visits]
    expected = Expected()
    for visit, visit_outcomes in plans:
        expected.add(visit, visit_outcomes)
    account = next(((a.nickname, a.ins_key) for a in accounts.values()), None)

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await wait_for_receiver(session, settings.receiver_url)
        sender = Sender(session, settings.receiver_url, account,
                        settings.receiver_max_query_bytes)
        # A second of margin: the receiver stamps the first click after this.
        since = datetime.now(UTC) - timedelta(seconds=1)
        print(f"simulating {len(visits)} visits over {settings.simulate_duration_s:.0f}s "
              f"against {settings.receiver_url} (seed {seed})", flush=True)
        started = time.monotonic()
        await _drive(sender, plans, started, settings.simulate_duration_s)
        elapsed = time.monotonic() - started

    dashboard = (f"http://{settings.dashboard_host}:{settings.dashboard_port}/"
                 f"?from={quote(since.isoformat(timespec='seconds'))}")
    print(report.summary(expected, sender.tally, since, seed, elapsed,
                         settings.late_click_grace_s, dashboard), flush=True)
    if summary_json is not None:
        text = orjson.dumps(report.as_json(expected, sender.tally, since, seed),
                            option=orjson.OPT_INDENT_2)
        await asyncio.to_thread(summary_json.write_bytes, text)
    return 1 if sender.tally.unexpected else 0


async def _drive(sender: Sender, plans: list[tuple[Visit, list[Outcome]]], started: float,
                 duration_s: float) -> None:
    progress = report.Progress(len(plans), duration_s)
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    done = 0

    async def one(visit: Visit, visit_outcomes: list[Outcome]) -> None:
        nonlocal done
        try:
            await sender.visit(visit, visit_outcomes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            sender.tally.check("connection", 0, 200, f"{type(exc).__name__}: {exc}")
        finally:
            done += 1
            slots.release()

    async def show() -> None:
        while True:
            progress.show(done, time.monotonic() - started, sender.tally)
            await asyncio.sleep(0.5)

    shower = asyncio.create_task(show())
    tasks: list[asyncio.Task[None]] = []
    try:
        for visit, visit_outcomes in plans:
            delay = started + visit.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(visit, visit_outcomes)))
        await asyncio.gather(*tasks)
    finally:
        shower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await shower
        progress.show(done, time.monotonic() - started, sender.tally, final=True)
