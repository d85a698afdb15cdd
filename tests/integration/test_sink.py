"""The sink against the real broker and the real ClickHouse engine: rows, batching,
commit after write, ClickHouse unavailable."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.messages import PostbackIssue
from services.clickhouse.migrate import migrate
from services.sink.writer import Writer
from tests.integration.sinking import (
    RecordingWriter,
    RunningSink,
    click,
    committed_total,
    conversion,
    count,
    end_total,
    publish,
    scalar,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


async def test_rows_land_in_clickhouse_and_offsets_are_committed_after(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db = settings.clickhouse_database
    c = click(params={"campaign": "x"})
    conv = conversion("12.345678")
    issue = PostbackIssue(postback_id=new_id(), reason="invalid", detail="click_id: missing",
                          received_at=datetime.now(UTC))
    await publish(producer, topics.RAW_CLICKS, c.click_id, c)
    await publish(producer, topics.CONVERSIONS, conv.click_id, conv)
    await publish(producer, topics.POSTBACK_ISSUES, issue.postback_id, issue)

    running = RunningSink(settings.replace(sink_batch_seconds=0.2), Writer(ch_client, db))
    try:
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id",
                                       [conv.postback_id]) == 1, what="conversion row")
        await eventually(lambda: count(ch_client, db, "clicks", "click_id", [c.click_id]),
                         what="click row")
        await eventually(lambda: count(ch_client, db, "postback_issues", "postback_id",
                                       [issue.postback_id]), what="issue row")
        payout = scalar(ch_client, f"SELECT payout FROM {db}.conversions FINAL "
                        "WHERE postback_id = %(id)s", id=conv.postback_id)
        assert payout == Decimal("12.345678")  # exact, never a float
        end = await end_total(settings)

        async def committed_to_the_end() -> bool:
            return await committed_total(settings, running.group) == end

        await eventually(committed_to_the_end, what="offsets committed up to the end")
    finally:
        await running.stop()


async def test_a_full_batch_is_written_without_waiting_for_its_age(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db = settings.clickhouse_database
    clicks = [click() for _ in range(120)]
    for c in clicks:
        await publish(producer, topics.RAW_CLICKS, c.click_id, c)
    writer = RecordingWriter(ch_client, db)
    # An age limit no test outlives: only the size limit can trigger these writes.
    running = RunningSink(settings.replace(sink_batch_rows=50, sink_batch_seconds=600), writer)
    try:
        await eventually(lambda: len(writer.sizes) >= 2, what="two size-triggered writes")
        assert all(size >= 50 for size in writer.sizes)
        assert running.sink.batch.rows < 50  # the rest waits for more rows (or its age)
    finally:
        before_stop = len(writer.sizes)
        await running.stop()
    assert len(writer.sizes) == before_stop + 1  # stopping writes what was left
    assert count(ch_client, db, "clicks", "click_id", [c.click_id for c in clicks]) == 120


async def test_an_old_enough_batch_is_written_however_small(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db = settings.clickhouse_database
    c = click()
    await publish(producer, topics.RAW_CLICKS, c.click_id, c)
    writer = RecordingWriter(ch_client, db)
    running = RunningSink(
        settings.replace(sink_batch_rows=1_000_000, sink_batch_seconds=0.3), writer)
    try:
        await eventually(lambda: writer.sizes, what="a write triggered by age")
        assert all(size < 1_000_000 for size in writer.sizes)
        await eventually(lambda: count(ch_client, db, "clicks", "click_id", [c.click_id]),
                         what="the click")
    finally:
        await running.stop()


async def test_clickhouse_refusing_writes_holds_the_commit_until_it_recovers(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer, test_database: str
) -> None:
    # A database that does not exist yet: every insert fails until it is created.
    db = f"{test_database}_late"
    convs = [conversion("99.99") for _ in range(20)]
    for conv in convs:
        await publish(producer, topics.CONVERSIONS, conv.click_id, conv)
    writer = RecordingWriter(ch_client, db)
    running = RunningSink(settings.replace(sink_batch_seconds=0.1), writer)
    ids = [c.postback_id for c in convs]
    try:
        await eventually(lambda: writer.attempts >= 3, what="three failed write attempts")
        # Nothing may be committed while the write cannot succeed, nor read meanwhile.
        assert await committed_total(settings, running.group) == 0
        assert running.sink.batch.is_empty()  # paused: no second batch piles up
        migrate(ch_client, db)
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id", ids) == 20,
                         within=60, what="every row after ClickHouse recovered")
        await eventually(lambda: committed_total(settings, running.group),
                         what="commit after recovery")
        total = scalar(ch_client, f"SELECT sum(payout) FROM {db}.conversions "
                       "WHERE postback_id IN %(ids)s", ids=ids)
        assert total == Decimal("99.99") * 20  # once each, without FINAL
    finally:
        await running.stop()
        ch_client.command(f"DROP DATABASE IF EXISTS {db}")
