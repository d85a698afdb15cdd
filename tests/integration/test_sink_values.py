"""Message values parsed by ClickHouse (services.sink.staging): what arrives is exact, and
what is not a valid message is dead-lettered, never dropped nor filled with defaults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import encode, to_dict
from services.sink.rejects import refused_record
from services.sink.replay import ReplayGuard
from services.sink.writer import Writer
from tests.integration.sinking import RunningSink, click, conversion, count, publish, scalar
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse]


class Message(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


async def test_money_maps_and_times_arrive_exactly(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    c = click(offer, params={"utm": "été ü", "a b": "x=y&z", "q": '"quoted"\n'})
    convs = [conversion(p, offer, rule=f"purchase: {p}")
             for p in ("12.50", "-0.000001", "999999.999999")]
    await publish(producer, topics.RAW_CLICKS, c.click_id, c)
    for v in convs:
        await publish(producer, topics.CONVERSIONS, v.click_id, v)
    running = RunningSink(settings.replace(sink_batch_seconds=0.2), Writer(ch_client, db))
    try:
        await eventually(lambda: count(ch_client, db, "conversions", "postback_id",
                                       [v.postback_id for v in convs]) == 3, what="conversions")
        await eventually(lambda: count(ch_client, db, "clicks", "click_id", [c.click_id]),
                         what="the click")
    finally:
        await running.stop()
    stored = {pid: (payout, rule) for pid, payout, rule in ch_client.query(
        f"SELECT postback_id, payout, rule FROM {db}.conversions FINAL WHERE offer_id = %(o)s",
        parameters={"o": offer}).result_rows}
    assert stored == {v.postback_id: (v.payout, v.rule) for v in convs}
    params, clicked_at = ch_client.query(
        f"SELECT params, clicked_at FROM {db}.clicks FINAL WHERE click_id = %(id)s",
        parameters={"id": c.click_id}).result_rows[0]
    assert params == c.params
    # DateTime64(3): milliseconds kept, as the column has always stored them.
    expected = c.clicked_at.replace(microsecond=c.clicked_at.microsecond // 1000 * 1000)
    assert clicked_at.replace(tzinfo=expected.tzinfo) == expected


def _variant(base: dict[str, Any], **changes: Any) -> bytes:
    data = {**base, **changes}
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


async def test_invalid_values_are_dead_lettered_as_not_decodable(
    settings: Settings, ch_client: Any, producer: AIOKafkaProducer
) -> None:
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    good = click(offer)
    base = to_dict(click(offer))
    bad: dict[str, tuple[topics.Topic, bytes]] = {
        "missing clicked_at": (topics.RAW_CLICKS, _variant(base, click_id=new_id(),
                                                           clicked_at=...)),
        "null offer": (topics.RAW_CLICKS, _variant(base, click_id=new_id(), offer_id=None)),
        "number as string": (topics.RAW_CLICKS, _variant(base, click_id=new_id(), offer_id=5)),
        "empty": (topics.RAW_CLICKS, b""),
        "two objects": (topics.RAW_CLICKS, _variant(base, click_id=new_id()) * 2),
    }
    keys = {what: new_id() for what in bad}
    for what, (topic, value) in bad.items():
        await producer.send_and_wait(topic.name, key=keys[what].encode(), value=value)
    await publish(producer, topics.RAW_CLICKS, good.click_id, good)

    running = RunningSink(settings.replace(sink_batch_seconds=0.2), Writer(ch_client, db))
    try:
        await eventually(lambda: count(ch_client, db, "clicks", "click_id", [good.click_id]),
                         what="the good click")
        await eventually(lambda: scalar(
            ch_client, f"SELECT count() FROM {db}.sink_rejects FINAL WHERE key IN %(k)s",
            k=list(keys.values())) == len(keys), what="every invalid value dead-lettered")
    finally:
        await running.stop()
    stages = dict(ch_client.query(
        f"SELECT key, stage FROM {db}.sink_rejects FINAL WHERE key IN %(k)s",
        parameters={"k": list(keys.values())}).result_rows)
    assert stages == {key: "decode" for key in keys.values()}
    assert scalar(ch_client, f"SELECT count() FROM {db}.clicks WHERE offer_id = %(o)s",
                  o=offer) == 1  # nothing of the invalid clicks, not even with defaults


async def test_a_payout_sent_as_a_number_is_refused_not_rounded(
    settings: Settings, ch_client: Any
) -> None:
    # Through the writer, not the topic: other tests decode every conversion on the topic.
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    good = conversion("5.10", offer)
    value = _variant(to_dict(conversion("5.10", offer)), payout=5.1)
    messages = [Message(topics.CONVERSIONS.name, 0, n, None, v)
                for n, v in enumerate((value, encode(good)))]
    writer = Writer(ch_client, db)
    try:
        refused = await writer.write({"conversions": messages}, ReplayGuard())  # type: ignore[dict-item]
    finally:
        writer.close()
    [(message, error)] = refused
    assert message.value == value and "payout" in error
    assert refused_record(message, error).stage == "decode"
    assert scalar(ch_client, f"SELECT sum(payout) FROM {db}.conversions WHERE offer_id = %(o)s",
                  o=offer) == Decimal("5.10")


async def test_a_payout_outside_the_decimal_pattern_is_refused_not_converted(
    settings: Settings, ch_client: Any
) -> None:
    """ClickHouse's String -> Decimal conversion takes all of these; the contract does not."""
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    good = conversion("5.10", offer)
    bad = [_variant(to_dict(conversion("1", offer)), payout=text)
           for text in ("1e3", "12.", ".5", "+5", " 5", "1_0", "")]
    messages = [Message(topics.CONVERSIONS.name, 0, n, None, v)
                for n, v in enumerate([*bad[:3], encode(good), *bad[3:]])]
    writer = Writer(ch_client, db)
    try:
        refused = await writer.write({"conversions": messages}, ReplayGuard())  # type: ignore[dict-item]
    finally:
        writer.close()
    assert sorted(m.value for m, _ in refused) == sorted(bad)
    for message, error in refused:
        assert "payout: not a decimal string" in error, error
        assert refused_record(message, error).stage == "decode"
    assert scalar(ch_client, f"SELECT sum(payout) FROM {db}.conversions WHERE offer_id = %(o)s",
                  o=offer) == Decimal("5.10")


async def test_an_empty_value_and_a_double_value_in_one_insert_are_both_refused(
    settings: Settings, ch_client: Any
) -> None:
    # ClickHouse reads the empty value as no row and the double one as two: together they
    # would pass a row count, so neither may reach the insert.
    db, offer = settings.clickhouse_database, f"o{new_id()[:12]}"
    good = click(offer)
    double = _variant(to_dict(click(offer)), click_id=new_id()) * 2
    messages = [Message(topics.RAW_CLICKS.name, 0, n, f"k{n}".encode(), v)
                for n, v in enumerate((b"", double, encode(good)))]
    writer = Writer(ch_client, db)
    try:
        refused = await writer.write({"clicks": messages}, ReplayGuard())  # type: ignore[dict-item]
    finally:
        writer.close()
    assert sorted(m.offset for m, _ in refused) == [0, 1]
    assert all(refused_record(m, e).stage == "decode" for m, e in refused)
    assert scalar(ch_client, f"SELECT count() FROM {db}.clicks WHERE offer_id = %(o)s",
                  o=offer) == 1
