"""The dead-letter path: messages that cannot become a ClickHouse row.

A message that does not decode (stage `decode`) or whose row ClickHouse refuses (stage
`insert`) is not dropped and does not stop its partition: it is published to
`hopstream.sink-rejects`, keyed like the source message, and inserted into the
`sink_rejects` table, both with the error, before the batch's offsets are committed. Both
are at-least-once: a replayed reject is published again and collapses in the table on its
source (topic, partition, offset).
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
from services.sink.writer import Writer

log = logging.getLogger(__name__)


def reject_record(item: Item, stage: str, error: str) -> SinkReject:
    return SinkReject(
        source_topic=item.tp.topic,
        source_partition=item.tp.partition,
        source_offset=item.offset,
        key=(item.key or b"").decode("utf-8", "replace"),
        value=item.value.decode("utf-8", "replace"),
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
