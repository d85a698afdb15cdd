"""A waiting postback's grace period counts in what the worker has read, not in its wall
clock: a worker working through a backlog (after an outage, say) does not give up on a
postback before it has read the clicks published alongside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.settings import Settings
from schemas import topics
from schemas.codec import encode
from schemas.messages import Conversion
from tests.processes import Process
from tests.streams_support import click, offer, outcome, postback, publish_offers

pytestmark = pytest.mark.kafka

BACKLOG = 20_000  # clicks the worker reads before the one the postback waits for
PARTITION = 3  # of 4 in the tests


async def test_a_postback_waits_through_a_backlog_longer_than_its_grace_period(
    base_settings: Settings, kafka: object, tmp_path: Path
) -> None:
    settings = base_settings.replace(
        kafka_bootstrap_servers=kafka.bootstrap_servers,  # type: ignore[attr-defined]
        data_dir=tmp_path, late_click_grace_s=1.0,
        worker_app_id=f"hopstream-worker-grace-{tmp_path.name[-12:]}",
    )
    await asyncio.to_thread(publish_offers, settings, offer("grace", {"event": "*",
                                                                       "payout": "postback"}))
    c = click("grace")
    p = postback(c.click_id, payout="19.99")
    # Published while no worker ran: the postback, then a backlog of other clicks, then
    # its click half a second later (record timestamps say when each was published).
    published = p.received_at.timestamp() * 1000
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                linger_ms=20)
    await producer.start()
    try:
        for topic in (topics.RAW_CLICKS, topics.RAW_POSTBACKS):
            await producer.partitions_for(topic.name)  # explicit partitions need metadata
        await producer.send_and_wait(topics.RAW_POSTBACKS.name, encode(p),
                                     key=c.click_id.encode(), partition=PARTITION,
                                     timestamp_ms=int(published))
        sent = []
        for _ in range(BACKLOG):
            other = click("grace")
            sent.append(await producer.send(topics.RAW_CLICKS.name, encode(other),
                                            key=other.click_id.encode(), partition=PARTITION,
                                            timestamp_ms=int(published)))
        await asyncio.gather(*sent)
        await producer.send_and_wait(topics.RAW_CLICKS.name, encode(c),
                                     key=c.click_id.encode(), partition=PARTITION,
                                     timestamp_ms=int(published) + 500)
    finally:
        await producer.stop()

    worker = Process("worker", settings, tmp_path / "worker.log")
    try:
        await asyncio.to_thread(worker.wait_ready)
        # Reading the backlog takes the worker longer than the 1 s grace period; the
        # postback still waits for its click, published within the grace period after it.
        result = await outcome(settings, p, within=90)
    finally:
        worker.stop()
    assert isinstance(result, Conversion), result
    assert result.payout == p.payout
