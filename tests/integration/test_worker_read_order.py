"""A worker working through a backlog reads each partition's clicks before the postbacks
published after them (`streams.read_order`): the postbacks find their click, instead of
about half of them being parked in the pending table first."""

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
from tests.streams_support import click, offer, outcomes, postback, publish_offers
from tests.waiting import read_all

pytestmark = pytest.mark.kafka

CLICKS = 3_000


async def test_a_backlog_is_read_clicks_first(
    base_settings: Settings, kafka: object, tmp_path: Path
) -> None:
    app_id = f"hopstream-worker-order-{tmp_path.name[-12:]}"
    settings = base_settings.replace(
        kafka_bootstrap_servers=kafka.bootstrap_servers,  # type: ignore[attr-defined]
        data_dir=tmp_path, worker_app_id=app_id,
    )
    await asyncio.to_thread(publish_offers, settings, offer("order", {"event": "*",
                                                                       "payout": "postback"}))
    clicks = [click("order") for _ in range(CLICKS)]
    postbacks = [postback(c.click_id, payout="3.00") for c in clicks]
    # Published while no worker ran: every click, then every postback (~1 MB each).
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                linger_ms=20)
    await producer.start()
    try:
        for topic, messages in ((topics.RAW_CLICKS, clicks), (topics.RAW_POSTBACKS, postbacks)):
            await asyncio.gather(*[await producer.send(topic.name, encode(m),
                                                       key=m.click_id.encode())
                                   for m in messages])
    finally:
        await producer.stop()

    worker = Process("worker", settings, tmp_path / "worker.log")
    try:
        await asyncio.to_thread(worker.wait_ready)
        found = await outcomes(settings, [p.postback_id for p in postbacks], within=120)
    finally:
        worker.stop()
    assert all(isinstance(m[0], Conversion) for m in found.values())
    # Each parked postback wrote its click id to the pending table's changelog.
    changelog = await read_all(settings.bootstrap_servers,
                               f"{app_id}-pending_postbacks-changelog")
    parked = {r.key for r in changelog}
    assert len(parked) <= CLICKS // 50, f"{len(parked)} of {CLICKS} postbacks were parked"
