"""The stream worker (a real Faust process) against the real broker: join outcomes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode, encode
from schemas.messages import Click, Conversion, Postback, PostbackIssue
from services.kafka.admin import ensure_topics
from tests.processes import Process
from tests.waiting import read_topic

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def worker(
    base_settings: Settings, kafka: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    data_dir = tmp_path_factory.mktemp("worker")
    settings = base_settings.replace(
        kafka_bootstrap_servers=kafka.bootstrap_servers,  # type: ignore[attr-defined]
        data_dir=data_dir,
    )
    asyncio.run(ensure_topics(settings))
    process = Process("worker", settings, data_dir / "worker.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


def make_click(offer_id: str = "keto") -> Click:
    return Click(click_id=new_id(), offer_id=offer_id, clicked_at=datetime.now(UTC),
                 traffic_source="fb", campaign="spring", creative="c1")


def make_postback(click_id: str, payout: str | None = "12.50", event: str = "purchase"
                  ) -> Postback:
    return Postback(postback_id=new_id(), received_at=datetime.now(UTC), click_id=click_id,
                    event=event, payout=None if payout is None else Decimal(payout),
                    receipt="P3RGBKGB", currency="USD")


async def send(producer: AIOKafkaProducer, topic: topics.Topic, key: str, message: object) -> None:
    await producer.send_and_wait(topic.name, key=key.encode(), value=encode(message))


async def outcome(settings: Settings, topic: topics.Topic, cls: type, postback_id: str) -> object:
    def match(raw: bytes) -> bool:
        return bool(decode(cls, raw).postback_id == postback_id)

    records = await read_topic(
        settings.bootstrap_servers, topic.name, lambda rs: any(match(r.value) for r in rs),
    )
    return next(decode(cls, r.value) for r in records if match(r.value))


async def test_postback_after_its_click_becomes_a_conversion(
    worker: Process, producer: AIOKafkaProducer, settings: Settings
) -> None:
    click = make_click()
    postback = make_postback(click.click_id)
    await send(producer, topics.RAW_CLICKS, click.click_id, click)
    await send(producer, topics.RAW_POSTBACKS, click.click_id, postback)

    conversion = await outcome(settings, topics.CONVERSIONS, Conversion, postback.postback_id)
    assert isinstance(conversion, Conversion)
    assert conversion.click_id == click.click_id
    assert conversion.offer_id == "keto"
    assert conversion.payout == Decimal("12.50")
    assert conversion.traffic_source == "fb"
    assert conversion.clicked_at == click.clicked_at


async def test_postback_before_its_click_waits_for_the_click(
    worker: Process, producer: AIOKafkaProducer, settings: Settings
) -> None:
    click = make_click("fitness")
    postback = make_postback(click.click_id, payout="30.00")
    await send(producer, topics.RAW_POSTBACKS, click.click_id, postback)
    # The click arrives only now; the postback must complete once it does.
    await send(producer, topics.RAW_CLICKS, click.click_id, click)

    conversion = await outcome(settings, topics.CONVERSIONS, Conversion, postback.postback_id)
    assert isinstance(conversion, Conversion)
    assert conversion.offer_id == "fitness"
    assert conversion.payout == Decimal("30.00")


async def test_postback_without_payout_is_an_issue(
    worker: Process, producer: AIOKafkaProducer, settings: Settings
) -> None:
    click = make_click()
    postback = make_postback(click.click_id, payout=None)
    await send(producer, topics.RAW_CLICKS, click.click_id, click)
    await send(producer, topics.RAW_POSTBACKS, click.click_id, postback)

    issue = await outcome(settings, topics.POSTBACK_ISSUES, PostbackIssue, postback.postback_id)
    assert isinstance(issue, PostbackIssue)
    assert issue.reason == "missing_payout"
    assert issue.offer_id == "keto"


async def test_a_broken_message_becomes_a_processing_error_not_a_loss(
    worker: Process, producer: AIOKafkaProducer, settings: Settings
) -> None:
    bad = b'{"postback_id": "deadbeef", "click_id": 42}'
    await producer.send_and_wait(topics.RAW_POSTBACKS.name, key=b"k42", value=bad)

    records = await read_topic(
        settings.bootstrap_servers, topics.POSTBACK_ISSUES.name,
        lambda rs: any("deadbeef" in decode(PostbackIssue, r.value).raw for r in rs),
    )
    issue = next(decode(PostbackIssue, r.value) for r in records
                 if "deadbeef" in decode(PostbackIssue, r.value).raw)
    assert issue.reason == "processing_error"
    assert "Postback" in issue.detail
