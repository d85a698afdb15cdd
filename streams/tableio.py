"""The worker's table reads and writes, and its outputs, without Faust's per-message path.

Faust writes a table's changelog record and every `send_soon` through its ProducerBuffer:
one queued message per event-loop turn, and once 100 are queued the stream stops to drain
them one by one; a table read looks the key up twice (`in`, then `[]`), and every
acknowledged changelog record costs a RocksDB write of its offset. Measured on the
benchmark, that plumbing cost more than everything else the worker does (README,
Performance). Here the processor reads and writes the current event's partition of a
table's RocksDB store directly and queues the changelog records and outputs; the agent
awaits `send()` once the event is handled, which hands them to the producer's batches.

The guarantees are Faust's own: each write goes to the store and to the table's changelog
partition of the current event; a deletion is a null record (what Faust's recovery applies
as a delete); every record is with the producer before the agent takes the next event,
i.e. before that event is acknowledged, and Faust flushes the producer before it commits
offsets. The changelog offset the broker acknowledged is kept in the store as Faust does
(so a restart on the same data dir reads only newer changelog records), at most once per
`PERSIST_EVERY_S` and partition: an older offset only makes that recovery re-read a little
more of the changelog, which applies the same values again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from faust import current_event

log = logging.getLogger(__name__)

PERSIST_EVERY_S = 1.0
EXIT_RECORD_LOST = 75  # EX_TEMPFAIL: restart me


class TableIO:
    def __init__(self, app: Any) -> None:
        self.app = app
        # (topic, key, value, partition, table): partition and table only for changelogs
        self.queued: list[tuple[str, bytes | None, bytes | None, int | None, Any]] = []
        self.acked: dict[tuple[Any, Any], int] = {}  # (store, changelog tp) -> offset
        self.persisted_at = time.monotonic()

    # --- the current event's partition of a table ------------------------------------
    def get(self, table: Any, key: bytes) -> bytes | None:
        value: bytes | None = _db(table, _partition()).get(key)
        return value

    def put(self, table: Any, key: bytes, value: bytes) -> None:
        partition = _partition()
        _db(table, partition).put(key, value)
        self.queued.append((_changelog(table), key, value, partition, table))

    def items(self, table: Any, partition: int) -> list[tuple[bytes, bytes]]:
        """The (key, value) pairs one partition of a table holds locally.

        Faust's Table only iterates all local partitions at once; a tick must touch only
        the keys of its own partition. A list: the caller writes to the same table while
        it goes through the result.
        """
        offset_key = table.data.offset_key
        return [(bytes(k), bytes(v)) for k, v in _db(table, partition).items()
                if k != offset_key]

    def delete(self, table: Any, key: bytes) -> None:
        partition = _partition()
        _db(table, partition).delete(key)
        self.queued.append((_changelog(table), key, None, partition, table))

    # --- outputs ------------------------------------------------------------------------
    def emit(self, topic: Any, key: bytes | None, value: bytes) -> None:
        """An output message, partitioned by key like `topic.send` does."""
        self.queued.append((topic.get_topic_name(), key, value, None, None))

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand every queued record to the producer (returns before the broker acks), and
        return the futures of their acknowledgements, for a caller that needs a barrier."""
        queued, self.queued = self.queued, []
        producer = self.app.producer
        sent = []
        for topic, key, value, partition, table in queued:
            delivered = await producer.send(topic, key, value, partition, None, None)
            if table is None:
                delivered.add_done_callback(_check_delivered)
            else:
                delivered.add_done_callback(lambda d, store=table.data: self._acked(store, d))
            sent.append(delivered)
        if self.acked and time.monotonic() - self.persisted_at >= PERSIST_EVERY_S:
            self.persist_offsets()
        return sent

    def _acked(self, store: Any, delivered: asyncio.Future[Any]) -> None:
        if _check_delivered(delivered):
            metadata = delivered.result()
            self.acked[store, metadata.topic_partition] = metadata.offset

    def persist_offsets(self) -> None:
        acked, self.acked = self.acked, {}
        for (store, tp), offset in acked.items():
            store.set_persisted_offset(tp, offset)
        self.persisted_at = time.monotonic()


def _partition() -> int:
    event = current_event()
    if event is None:
        raise RuntimeError("table access belongs to the handling of an event")
    partition: int = event.message.partition
    return partition


def _db(table: Any, partition: int) -> Any:
    return table.data._db_for_partition(partition)


def _changelog(table: Any) -> str:
    name: str = table.changelog_topic.get_topic_name()
    return name


def _check_delivered(delivered: asyncio.Future[Any]) -> bool:
    """A record the broker did not take (after the producer's own retries) is lost, and
    Faust would still commit the offset of the event that produced it: the outcome or the
    table change would be gone for good. Stop the process at once instead, before any
    further commit; restarted, the worker handles those events again from the last
    committed offset, and the ledger makes that replay emit the same decisions."""
    if delivered.cancelled():
        return False  # the producer is stopping: shutdown, not a lost record
    if delivered.exception() is not None:
        log.critical("the broker did not take a record; stopping without committing",
                     exc_info=delivered.exception())
        logging.shutdown()
        os._exit(EXIT_RECORD_LOST)
    return True
