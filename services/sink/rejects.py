"""The dead-letter path: messages that cannot become a ClickHouse row.

A message ClickHouse refuses is not dropped and does not stop its partition: it is
published to `hopstream.sink-rejects`, keyed like the source message, and inserted into
the `sink_rejects` table, both with the error, before the batch's offsets are committed.
Its stage says why: `decode` when it is not a valid message of its topic at all (the
contract's decoder names what is wrong), `insert` when it is, but ClickHouse refused the
row (a constraint, a value out of range). Both are at-least-once: a replayed reject is
published again and collapses in the table on its source (topic, partition, offset).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from schemas import topics
from schemas.codec import encode
from schemas.messages import SinkReject
from services.sink.batch import Item
from services.sink.tables import TABLES
from services.sink.writer import Writer

log = logging.getLogger(__name__)


def refused_record(item: Item, error: str) -> SinkReject:
    """The dead letter of a message ClickHouse refused with `error`. Only refused messages
    are decoded in Python, to tell the two stages apart and name the offending field."""
    try:
        TABLES[item.topic].to_row(item.value or b"")
    except ValueError as exc:
        return reject_record(item, "decode", f"{type(exc).__name__}: {exc}")
    return reject_record(item, "insert", error)


def reject_record(item: Item, stage: str, error: str) -> SinkReject:
    return SinkReject(
        source_topic=item.topic,
        source_partition=item.partition,
        source_offset=item.offset,
        key=(item.key or b"").decode("utf-8", "replace"),
        value=(item.value or b"").decode("utf-8", "replace"),
        stage=stage,
        error=error,
        rejected_at=datetime.now(UTC),
    )


async def dead_letter(producer: AIOKafkaProducer, writer: Writer,
                      rejects: list[SinkReject]) -> None:
    """Publish, then record in ClickHouse; raises if either fails (the batch is retried)."""
    sends = [
        await producer.send(topics.SINK_REJECTS.name, key=r.key.encode() or None,
                            value=encode(r))
        for r in rejects
    ]
    await asyncio.gather(*sends)
    await writer.write_rejects(rejects)
    for r in rejects:
        log.warning("dead-lettered %s[%d]@%d (%s): %s", r.source_topic, r.source_partition,
                    r.source_offset, r.stage, r.error[:200])
