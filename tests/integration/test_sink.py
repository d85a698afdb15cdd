"""The sink against the real broker and the real ClickHouse engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import encode
from schemas.messages import Click, Conversion, PostbackIssue
from services.clickhouse.migrate import migrate
from services.kafka.admin import ensure_topics
from services.sink.consumer import Sink
from services.sink.tables import TABLES
from services.sink.writer import Writer
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    await producer.stop()


def conversion(payout: str) -> Conversion:
    now = datetime.now(UTC)
    return Conversion(postback_id=new_id(), click_id=new_id(), offer_id="keto",
                      event="purchase", receipt="R1", payout=Decimal(payout), currency="USD",
                      converted_at=now, clicked_at=now)


async def publish(producer: AIOKafkaProducer, topic: topics.Topic, key: str, msg: Any) -> None:
    await producer.send_and_wait(topic.name, key=key.encode(), value=encode(msg))


def count(ch_client: Any, database: str, table: str, column: str, ids: list[str]) -> int:
    rows = ch_client.query(
        f"SELECT count() FROM {database}.{table} FINAL WHERE {column} IN {{ids:Array(String)}}",
        parameters={"ids": ids},
    ).result_rows
    return int(rows[0][0])


async def committed_total(settings: Settings, group: str) -> int:
    """Sum of committed offsets of `group` over every topic the sink reads."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group)
    await consumer.start()
    try:
        total = 0
        for topic in TABLES:
            for p in range(settings.partitions):
                total += await consumer.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await consumer.stop()


async def end_total(settings: Settings) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in TABLES for p in range(settings.partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


class CountingWriter(Writer):
    """The real writer, counting its attempts."""

    attempts = 0

    async def write(self, rows_by_table: dict[str, list[list[Any]]]) -> None:
        self.attempts += 1
        await super().write(rows_by_table)


class RunningSink:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.task = asyncio.create_task(sink.run())

    async def stop(self) -> None:
        self.sink.stop()
        await asyncio.wait_for(self.task, 30)


async def test_rows_land_in_clickhouse_and_offsets_are_committed_after(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db = settings.clickhouse_database
    click = Click(click_id=new_id(), offer_id="keto", clicked_at=datetime.now(UTC),
                  params={"campaign": "x"})
    conv = conversion("12.345678")
    issue = PostbackIssue(postback_id=new_id(), reason="invalid", detail="click_id: missing",
                          received_at=datetime.now(UTC))
    await publish(producer, topics.RAW_CLICKS, click.click_id, click)
    await publish(producer, topics.CONVERSIONS, conv.click_id, conv)
    await publish(producer, topics.POSTBACK_ISSUES, issue.postback_id, issue)

    group = f"sink-test-{new_id()}"
    running = RunningSink(Sink(settings.replace(sink_batch_seconds=0.2),
                               Writer(ch_client, db), group_id=group))
    try:
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id",
                                       [conv.postback_id]) == 1, what="conversion row")
        await eventually(lambda: count(ch_client, db, "clicks", "click_id", [click.click_id]),
                         what="click row")
        await eventually(lambda: count(ch_client, db, "postback_issues", "postback_id",
                                       [issue.postback_id]), what="issue row")
        payout = ch_client.query(
            f"SELECT payout FROM {db}.conversions FINAL WHERE postback_id = %(id)s",
            parameters={"id": conv.postback_id},
        ).result_rows[0][0]
        assert payout == Decimal("12.345678")  # exact, never a float
        end = await end_total(settings)

        async def committed_to_the_end() -> bool:
            return await committed_total(settings, group) == end

        await eventually(committed_to_the_end, what="offsets committed up to the end")
    finally:
        await running.stop()


async def test_a_replayed_batch_does_not_change_final_totals(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db = settings.clickhouse_database
    conversions = [conversion(f"{n}.25") for n in range(1, 6)]
    for c in conversions:
        await publish(producer, topics.CONVERSIONS, c.click_id, c)
    ids = [c.postback_id for c in conversions]
    expected = sum((c.payout for c in conversions), Decimal(0))

    # Two sinks in two groups read everything: the same rows are written twice, as after a
    # crash between insert and commit.
    for _ in range(2):
        running = RunningSink(Sink(settings.replace(sink_batch_seconds=0.2),
                                   Writer(ch_client, db), group_id=f"replay-{new_id()}"))
        try:
            await eventually(lambda: count(ch_client, db, "conversions", "postback_id", ids) == 5,
                             what="five conversions")
        finally:
            await running.stop()
    raw = ch_client.query(
        f"SELECT count() FROM {db}.conversions WHERE postback_id IN %(ids)s",
        parameters={"ids": ids},
    ).result_rows[0][0]
    total = ch_client.query(
        f"SELECT sum(payout) FROM {db}.conversions FINAL WHERE postback_id IN %(ids)s",
        parameters={"ids": ids},
    ).result_rows[0][0]
    assert raw >= 5  # replayed rows were written...
    assert total == expected  # ...and FINAL collapses them: totals stay exact


async def test_clickhouse_refusing_writes_holds_the_commit_until_it_recovers(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer, test_database: str
) -> None:
    # A database that does not exist yet: every insert fails until it is created.
    db = f"{test_database}_late"
    conv = conversion("99.99")
    await publish(producer, topics.CONVERSIONS, conv.click_id, conv)
    group = f"sink-down-{new_id()}"
    writer = CountingWriter(ch_client, db)
    running = RunningSink(Sink(settings.replace(sink_batch_seconds=0.1), writer, group_id=group))
    try:
        await eventually(lambda: writer.attempts >= 3, what="three failed write attempts")
        # Nothing may be committed while the write cannot succeed.
        assert await committed_total(settings, group) == 0
        migrate(ch_client, db)
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id",
                                       [conv.postback_id]) == 1,
                         within=60, what="row after ClickHouse recovered")
        await eventually(lambda: committed_total(settings, group), what="commit after recovery")
    finally:
        await running.stop()
        ch_client.command(f"DROP DATABASE IF EXISTS {db}")
