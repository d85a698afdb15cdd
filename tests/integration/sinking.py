"""Helpers for the sink's integration tests: publishing, running a sink, reading back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import encode
from schemas.messages import Click, Conversion
from services.sink.batch import Item
from services.sink.consumer import Sink
from services.sink.tables import TABLES
from services.sink.writer import Writer


def click(offer_id: str = "keto", **changes: Any) -> Click:
    return Click(click_id=new_id(), offer_id=offer_id, clicked_at=datetime.now(UTC),
                 traffic_source="fb", campaign="spring", creative="c7", **changes)


def conversion(payout: str, offer_id: str = "keto", event: str = "purchase",
               **changes: Any) -> Conversion:
    now = datetime.now(UTC)
    values: dict[str, Any] = dict(
        postback_id=new_id(), click_id=new_id(), offer_id=offer_id, event=event, receipt="R1",
        payout=Decimal(payout), currency="USD", converted_at=now, clicked_at=now,
        traffic_source="fb", campaign="spring", creative="c7")
    values.update(changes)
    return Conversion(**values)


async def publish(producer: AIOKafkaProducer, topic: topics.Topic, key: str, msg: Any) -> None:
    await producer.send_and_wait(topic.name, key=key.encode(), value=encode(msg))


def scalar(ch_client: Any, sql: str, **parameters: Any) -> Any:
    return ch_client.query(sql, parameters=parameters).result_rows[0][0]


def count(ch_client: Any, database: str, table: str, column: str, ids: list[str]) -> int:
    return int(scalar(
        ch_client,
        f"SELECT count() FROM {database}.{table} FINAL WHERE {column} IN {{ids:Array(String)}}",
        ids=ids,
    ))


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


class RecordingWriter(Writer):
    """The real writer, recording the size of every write it is asked to do."""

    def __init__(self, client: Any, database: str) -> None:
        super().__init__(client, database)
        self.attempts = 0
        self.sizes: list[int] = []

    async def write(self, items_by_table: dict[str, list[Item]],
                    must_check: Any) -> list[tuple[Item, str]]:
        self.attempts += 1
        refused = await super().write(items_by_table, must_check)
        self.sizes.append(sum(map(len, items_by_table.values())))
        return refused


class RunningSink:
    def __init__(self, settings: Settings, writer: Writer, group: str | None = None) -> None:
        self.group = group or f"sink-test-{new_id()}"
        self.sink = Sink(settings, writer, group_id=self.group)
        self.task = asyncio.create_task(self.sink.run())

    async def stop(self) -> None:
        self.sink.stop()
        await asyncio.wait_for(self.task, 30)
