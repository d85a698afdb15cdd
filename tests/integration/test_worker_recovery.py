"""Crash and restart, and two workers sharing the partitions: exact totals throughout.

A worker is killed (SIGKILL) while it works through a backlog, and its data dir is thrown
away; a fresh pair of workers recovers the tables from their changelogs, splits the
partitions, and finishes. Every postback must end with exactly one decision (repeated
messages for the same postback id are allowed: at-least-once, collapsed downstream on
that id, but they must agree), and the money must add up to the cent.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.settings import Settings
from schemas.codec import encode
from schemas.messages import Click, Conversion, Postback
from tests.processes import Process
from tests.streams_support import (
    Outcome,
    click,
    offer,
    outcomes,
    postback,
    publish_offers,
    send,
)
from tests.waiting import eventually

pytestmark = pytest.mark.kafka

CLICKS = 400
OFFER = offer(
    "recovery",
    {"event": "purchase", "payout": "postback"},
    {"event": "upsell", "payout": "50%", "recurrent": True},
    {"event": "refund", "payout": "reverse"},
)


def story(i: int) -> tuple[list[Click | Postback], Decimal, int]:
    """One click's messages in sending order, what they must pay, how many duplicates."""
    c = click("recovery")
    receipt = f"R{i:07d}"
    sale = postback(c.click_id, "purchase", "10.00", receipt)
    pbs = [sale]
    total, duplicates = Decimal("10.00"), 0
    if i % 5 == 0:
        pbs.append(postback(c.click_id, "purchase", "10.00", receipt))
        duplicates += 1
    if i % 7 == 0:
        pbs.append(postback(c.click_id, "upsell", "20.00", f"U{i:07d}"))
        total += Decimal("10.00")
    if i % 11 == 0:
        pbs.append(postback(c.click_id, "refund", None, receipt))
        total -= Decimal("10.00")
    # Every third click arrives after its postbacks: they wait in the pending table.
    messages: list[Click | Postback] = [*pbs, c] if i % 3 == 0 else [c, *pbs]
    return messages, total, duplicates


def owned(process: Process) -> set[int]:
    lines = re.findall(r"worker owns partitions \[([0-9, ]*)\]", process.output())
    return {int(p) for p in lines[-1].split(",") if p.strip()} if lines else set()


async def test_killed_worker_recovers_and_two_workers_split_the_work(
    base_settings: Settings, kafka: object, tmp_path: Path
) -> None:
    settings, stories, producer = await _start(base_settings, kafka, tmp_path, "recovery")
    first, second = stories[: CLICKS // 2], stories[CLICKS // 2:]
    workers: list[Process] = []
    try:
        await _send_all(producer, first)
        a = Process("worker", settings, tmp_path / "a.log")
        workers.append(a)
        await asyncio.to_thread(a.wait_ready)
        some = [m.postback_id for m in first[0][0] if isinstance(m, Postback)]
        try:
            await outcomes(settings, some, within=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker a:\n{a.output()}") from None
        a.stop(signal.SIGKILL)  # mid-backlog: offsets not yet committed
        shutil.rmtree(settings.data_dir)

        await _send_all(producer, second)
        for name in ("b", "c"):
            workers.append(Process("worker", settings.replace(data_dir=tmp_path / name),
                                   tmp_path / f"{name}.log"))
        for w in workers[1:]:
            await asyncio.to_thread(w.wait_ready)

        ids = [m.postback_id for msgs, _, _ in stories for m in msgs if isinstance(m, Postback)]
        found = await outcomes(settings, ids, within=60)
        b, c = workers[1:]
        await eventually(lambda: owned(b) and owned(c) and not owned(b) & owned(c),
                         within=30, what="both workers owning partitions")
        assert owned(b) | owned(c) == set(range(settings.partitions))
    finally:
        for w in workers:
            w.stop()
        await producer.stop()

    _assert_exact(found, stories)


async def test_killed_worker_restarts_on_its_own_data_dir(
    base_settings: Settings, kafka: object, tmp_path: Path
) -> None:
    """The stores keep no write-ahead log (`streams.rocksdb_options`): after SIGKILL a
    store on disk is behind its changelog, and the restart must make up the difference."""
    settings, stories, producer = await _start(base_settings, kafka, tmp_path, "restart")
    # Stores written to disk every half second: the killed worker leaves stores holding
    # some of its writes and a changelog offset, behind what the changelogs hold.
    settings = settings.replace(store_flush_s=0.5)
    first, second = stories[: CLICKS // 2], stories[CLICKS // 2:]
    worker: Process | None = None
    try:
        await _send_all(producer, first)
        worker = Process("worker", settings, tmp_path / "a.log")
        await asyncio.to_thread(worker.wait_ready)
        ids = [m.postback_id for msgs, _, _ in first for m in msgs if isinstance(m, Postback)]
        await outcomes(settings, ids, within=60)
        worker.stop(signal.SIGKILL)

        await _send_all(producer, second)
        worker = Process("worker", settings, tmp_path / "a2.log")
        await asyncio.to_thread(worker.wait_ready)
        ids = [m.postback_id for msgs, _, _ in stories for m in msgs if isinstance(m, Postback)]
        found = await outcomes(settings, ids, within=60)
    finally:
        if worker is not None:
            worker.stop()
        await producer.stop()
    _assert_exact(found, stories)


Story = tuple[list[Click | Postback], Decimal, int]


async def _start(base_settings: Settings, kafka: object, tmp_path: Path, name: str
                 ) -> tuple[Settings, list[Story], AIOKafkaProducer]:
    """The worker's settings, its offer published, the stories, a started producer."""
    settings = base_settings.replace(
        kafka_bootstrap_servers=kafka.bootstrap_servers,  # type: ignore[attr-defined]
        data_dir=tmp_path / "a", late_click_grace_s=120.0,
        # A group and internal topics of its own: nothing left by other worker tests.
        worker_app_id=f"hopstream-worker-{name}-{tmp_path.name[-12:]}",
    )
    await asyncio.to_thread(publish_offers, settings, OFFER)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    return settings, [story(i) for i in range(CLICKS)], producer


def _assert_exact(found: dict[str, list[Outcome]], stories: list[Story]) -> None:
    """One decision per postback (repeats must agree), and the money to the cent."""
    for pid, messages in found.items():
        assert len({encode(m) for m in messages}) == 1, f"{pid} decided differently: {messages}"
    decided = {pid: messages[0] for pid, messages in found.items()}
    paid = sum((m.payout for m in decided.values() if isinstance(m, Conversion)), Decimal(0))
    assert paid == sum((total for _, total, _ in stories), Decimal(0))
    issues = [m for m in decided.values() if not isinstance(m, Conversion)]
    assert {i.reason for i in issues} == {"duplicate"}
    assert len(issues) == sum(d for _, _, d in stories)


async def _send_all(producer: AIOKafkaProducer, stories: list[Story]) -> None:
    for messages, _, _ in stories:
        await send(producer, *messages)
