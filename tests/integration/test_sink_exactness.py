"""Exact totals under replay, and the dead-letter path: the sink against the real broker
and the real ClickHouse engine."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from services.sink.batch import Item
from services.sink.writer import Writer
from tests.integration.sinking import (
    RunningSink,
    click,
    committed_total,
    conversion,
    count,
    publish,
    scalar,
)
from tests.waiting import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


class Crash(BaseException):
    """The process dying: nothing after it runs, in particular no commit."""


class CrashAfterInsert(Writer):
    """The real writer; the sink 'dies' right after its first successful insert."""

    async def write(self, items_by_table: dict[str, list[Item]],
                    must_check: Any) -> list[tuple[Item, str]]:
        refused = await super().write(items_by_table, must_check)
        raise Crash(refused)


def totals(ch_client: Any, db: str, offer: str) -> dict[str, Any]:
    """Dashboard totals of one offer, and the same from the base tables read with FINAL."""
    stats = ch_client.query(
        f"SELECT sum(clicks), sum(conversions), sum(payout), sumMap(conversions_by_event) "
        f"FROM {db}.offer_stats WHERE offer_id = %(o)s", parameters={"o": offer}).result_rows[0]
    return {
        "dashboard": tuple(stats),
        "base": (
            scalar(ch_client, f"SELECT count() FROM {db}.clicks FINAL WHERE offer_id = %(o)s",
                   o=offer),
            scalar(ch_client, f"SELECT countIf(kind = 'credit') FROM {db}.conversions FINAL "
                   "WHERE offer_id = %(o)s", o=offer),
            scalar(ch_client, f"SELECT sum(payout) FROM {db}.conversions FINAL "
                   "WHERE offer_id = %(o)s", o=offer),
            dict(ch_client.query(f"SELECT event, count() FROM {db}.conversions FINAL "
                                 "WHERE offer_id = %(o)s GROUP BY event",
                                 parameters={"o": offer}).result_rows),
        ),
        "rows_without_final": scalar(
            ch_client, f"SELECT count() FROM {db}.conversions WHERE offer_id = %(o)s", o=offer),
    }


async def test_a_crash_between_insert_and_commit_leaves_totals_exact(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    clicks = [click(offer) for _ in range(30)]
    convs = [conversion(f"{n}.125", offer, event=("purchase", "upsell")[n % 2])
             for n in range(1, 11)]
    for c in clicks:
        await publish(producer, topics.RAW_CLICKS, c.click_id, c)
    for v in convs:
        await publish(producer, topics.CONVERSIONS, v.click_id, v)
    # A crashed member is only noticed when its session times out: keep that short.
    fast = settings.replace(sink_batch_seconds=0.3, session_timeout_s=3)

    crashing = RunningSink(fast, CrashAfterInsert(ch_client, db))
    with pytest.raises(Crash):
        await asyncio.wait_for(crashing.task, 60)
    assert await committed_total(settings, crashing.group) == 0  # inserted, not committed

    # The same group again: the inserted batch is read again from the last commit.
    restarted = RunningSink(fast, Writer(ch_client, db), group=crashing.group)
    try:
        await eventually(lambda: count(ch_client, db, "clicks", "click_id",
                                       [c.click_id for c in clicks]) == 30, what="all clicks")
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id",
                                       [v.postback_id for v in convs]) == 10,
                         what="all conversions")
        await eventually(lambda: committed_total(settings, crashing.group), what="a commit")
    finally:
        await restarted.stop()
    result = totals(ch_client, db, offer)
    expected_payout = sum((v.payout for v in convs), Decimal(0))
    assert result["base"] == (30, 10, expected_payout, {"purchase": 5, "upsell": 5})
    assert result["dashboard"] == result["base"]
    assert result["rows_without_final"] == 10  # replayed rows were never inserted twice


async def test_another_group_replaying_everything_changes_no_total(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    convs = [conversion(f"{n}.25", offer) for n in range(1, 6)]
    clicks = [click(offer) for _ in range(7)]
    for v in convs:
        await publish(producer, topics.CONVERSIONS, v.click_id, v)
    for c in clicks:
        await publish(producer, topics.RAW_CLICKS, c.click_id, c)
    ids = [v.postback_id for v in convs]
    # Two sinks in two groups read everything: every row arrives twice, as after a lost
    # commit, and the second time nothing is known about what the first one wrote.
    for _ in range(2):
        running = RunningSink(settings.replace(sink_batch_seconds=0.2), Writer(ch_client, db))
        try:
            await eventually(lambda: count(ch_client, db, "conversions", "postback_id", ids) == 5,
                             what="five conversions")
            group = running.group
            await eventually(lambda: committed_total(settings, group),  # noqa: B023
                             what="the group's commit")
        finally:
            await running.stop()
    result = totals(ch_client, db, offer)
    assert result["base"] == (7, 5, Decimal("16.25"), {"purchase": 5})
    assert result["dashboard"] == result["base"]
    assert result["rows_without_final"] == 5


async def test_refused_rows_go_to_the_dead_letter_topic_and_table(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    good = conversion("10.00", offer)
    no_id = conversion("11.00", offer, postback_id="")  # refused: VIOLATED_CONSTRAINT
    huge = conversion("2000000.00", offer)  # refused: beyond the payout bound
    garbage_key = new_id()
    for v in (no_id, good, huge):
        await publish(producer, topics.CONVERSIONS, v.click_id, v)
    # On the clicks topic: other tests decode every conversion, but read clicks by key.
    await producer.send_and_wait(topics.RAW_CLICKS.name, key=garbage_key.encode(),
                                 value=b"{not json")
    keys = {no_id.click_id: "insert", huge.click_id: "insert", garbage_key: "decode"}

    running = RunningSink(settings.replace(sink_batch_seconds=0.2), Writer(ch_client, db))
    try:
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id",
                                       [good.postback_id]) == 1, what="the good row")
        dead = await read_topic(
            settings.bootstrap_servers, topics.SINK_REJECTS.name,
            lambda records: keys.keys() <= {r.key.decode() for r in records})
        await eventually(lambda: committed_total(settings, running.group), what="a commit")
    finally:
        await running.stop()
    letters = {r.key.decode(): r.value for r in dead if r.key.decode() in keys}
    assert b"VIOLATED_CONSTRAINT" in letters[no_id.click_id]
    assert b"payout_in_range" in letters[huge.click_id]
    assert b'"stage":"decode"' in letters[garbage_key]
    rows = ch_client.query(
        f"SELECT key, stage, error, value FROM {db}.sink_rejects FINAL "
        "WHERE key IN %(keys)s", parameters={"keys": list(keys)}).result_rows
    assert {key: stage for key, stage, _, _ in rows} == keys
    assert {key: value for key, _, _, value in rows}[garbage_key] == "{not json"
    assert scalar(ch_client, f"SELECT sum(payout) FROM {db}.offer_stats "
                  "WHERE offer_id = %(o)s", o=offer) == Decimal("10.00")
