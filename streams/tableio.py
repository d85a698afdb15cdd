"""The worker's table reads and writes, and its outputs, without Faust's per-message path.

Faust writes a table's changelog record and every `send_soon` through its ProducerBuffer:
one queued message per event-loop turn, and once 100 are queued the stream stops to drain
them one by one; a table read looks the key up twice (`in`, then `[]`), and every
acknowledged changelog record costs a RocksDB write of its offset. Measured on the
benchmark, that plumbing cost more than everything else the worker does (README,
Performance). Here the processor reads and writes the current event's partition of a
table's RocksDB store directly and queues the changelog records and outputs; the handler
hands them to the producer once per batch of messages (`hand_over`).

Which partition: the one of the message being handled, set by `streams.dispatch` before
each message (`partition`), as Faust's current event did for an agent.

The guarantees are Faust's own: each write goes to the store and to the table's changelog
partition of the current message; a deletion is a null record (what Faust's recovery
applies as a delete); every record is with the producer before the message is
acknowledged (`streams.batch_consumer`), and Faust flushes the producer before it commits
offsets. A record the broker refused is remembered: `check_delivered` then raises, and
the consumer refuses to commit (Faust's flush does not report failed records). The
changelog offset the broker acknowledged is kept in the store as Faust does (so a
restart on the same data dir reads only newer changelog records), at most once per
`PERSIST_EVERY_S` and partition: an older offset only makes that recovery re-read a little
more of the changelog, which applies the same values again.

The stores keep no write-ahead log (`streams.rocksdb_options`): what a store holds on disk
after a crash is what its memtables flushed, and a quiet store flushes rarely. So every
`flush_every_s` (HOPSTREAM_STORE_FLUSH_S), right after the offsets are persisted, every
store is flushed: a restart after a crash replays at most that much of each changelog,
and never needs changelog records old enough for compaction to have dropped them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from streams.produce import Record, send_batches

log = logging.getLogger(__name__)

PERSIST_EVERY_S = 1.0


class DeliveryFailed(RuntimeError):
    """The broker refused a record the worker produced: offsets must not be committed."""


class TableIO:
    def __init__(self, app: Any, flush_every_s: float = 300.0) -> None:
        self.app = app
        self.flush_every_s = flush_every_s
        self.flushed_at = time.monotonic()
        self.partition: int | None = None  # of the message being handled
        self.failure: BaseException | None = None  # the first record the broker refused
        # (topic, partition, key, value): the partition only for changelogs
        self.queued: list[Record] = []
        self.stores: dict[str, Any] = {}  # changelog topic -> its table's store
        self.handing: asyncio.Future[None] | None = None  # the latest handover
        self.acked: dict[tuple[Any, Any], int] = {}  # (store, changelog tp) -> offset
        self.persisted_at = time.monotonic()

    # --- the current event's partition of a table ------------------------------------
    def get(self, table: Any, key: bytes) -> bytes | None:
        value: bytes | None = _db(table, self._partition()).get(key)
        return value

    def put(self, table: Any, key: bytes, value: bytes) -> None:
        partition = self._partition()
        _db(table, partition).put(key, value)
        self.queued.append((self._changelog(table), partition, key, value))

    def items(self, table: Any, partition: int) -> list[tuple[bytes, bytes]]:
        """The (key, value) pairs one partition of a table holds locally.

        Faust's Table only iterates all local partitions at once; a tick must touch only
        the keys of its own partition. A list: the caller writes to the same table while
        it goes through the result.
        """
        return list(self.scan(table, partition))

    def scan(self, table: Any, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """`items` one pair at a time, for a caller that does not write to the table until
        it is done: a sweep goes through every click of a partition (125,000 at 1,000,000
        clicks), which as a list, and decoded at once, took ~120 MB."""
        offset_key = table.data.offset_key
        for k, v in _db(table, partition).items():
            if k != offset_key:
                yield bytes(k), bytes(v)

    def delete(self, table: Any, key: bytes) -> None:
        partition = self._partition()
        _db(table, partition).delete(key)
        self.queued.append((self._changelog(table), partition, key, None))

    # --- outputs ------------------------------------------------------------------------
    def emit(self, topic: Any, key: bytes | None, value: bytes) -> None:
        """An output message, partitioned by key like `topic.send` does."""
        self.queued.append((topic.get_topic_name(), None, key, value))

    def hand_over(self) -> asyncio.Future[None]:
        """Start handing the queued records to the producer, after every earlier handover
        (records keep their order per partition); the future is done once they are all
        with the producer. Lets the next messages be handled while the producer waits
        for room (one produce request in flight per broker)."""
        queued, self.queued = self.queued, []
        self.handing = asyncio.ensure_future(self._hand(self.handing, queued))
        return self.handing

    async def _hand(self, previous: asyncio.Future[None] | None,
                    queued: list[Record]) -> None:
        if previous is not None:
            await previous
        if queued:
            for batch in await send_batches(self.app.producer._ensure_producer(), queued):
                store = self.stores.get(batch.topic)
                if store is None:
                    batch.delivered.add_done_callback(self._check)
                else:
                    batch.delivered.add_done_callback(partial(self._acked, store))
        now = time.monotonic()
        if self.acked and now - self.persisted_at >= PERSIST_EVERY_S:
            try:  # both only shorten what a restart replays: never a reason to stop
                self.persist_offsets()
                if now - self.flushed_at >= self.flush_every_s:
                    self.flush_stores()
            except Exception:
                log.exception("keeping changelog offsets or writing the stores failed")

    async def acknowledged(self) -> None:
        """A barrier: returns once everything queued so far is with the producer and the
        broker acknowledged it; raises `DeliveryFailed` if it refused any of it. aiokafka's
        flush waits for every batch in its accumulator to be delivered (acknowledged or
        failed, callbacks run); Faust's own `producer.flush()` is not used here: its
        buffer is bypassed (`streams.produce`)."""
        await self.hand_over()
        await self.app.producer._ensure_producer().flush()
        self.check_delivered()

    def check_delivered(self) -> None:
        """Raise if the broker refused any record handed to the producer so far. Called
        before each commit, after Faust's flush, when every earlier record's outcome is
        known."""
        if self.failure is not None:
            raise DeliveryFailed("the broker refused a record") from self.failure

    def _check(self, delivered: asyncio.Future[Any]) -> bool:
        if delivered.cancelled() or delivered.exception() is not None:
            failure = delivered.exception() if not delivered.cancelled() else None
            log.error("the broker did not take a record", exc_info=failure)
            if self.failure is None:
                self.failure = failure or asyncio.CancelledError()
            return False
        return True

    def _acked(self, store: Any, delivered: asyncio.Future[Any]) -> None:
        if self._check(delivered):
            # The batch's first record's offset: a restart re-reads the rest of the batch
            # from the changelog, which applies the same values again.
            metadata = delivered.result()
            self.acked[store, metadata.topic_partition] = metadata.offset

    def _changelog(self, table: Any) -> str:
        name: str = table.changelog_topic.get_topic_name()
        self.stores[name] = table.data
        return name

    def _partition(self) -> int:
        if self.partition is None:
            raise RuntimeError("table access belongs to the handling of a message")
        return self.partition

    def persist_offsets(self) -> None:
        """Keep the acknowledged changelog offsets in their stores: only those of
        partitions still open here (one acknowledged around a rebalance would reopen the
        store of a partition another worker owns now)."""
        acked, self.acked = self.acked, {}
        for (store, tp), offset in acked.items():
            if tp.partition in store._dbs:
                store.set_persisted_offset(tp, offset)
        self.persisted_at = time.monotonic()


    def flush_stores(self) -> None:
        """Write every open store's memtables to disk (in the background: RocksDB's own
        threads), the offsets just persisted included."""
        for store in {id(store): store for store in self.stores.values()}.values():
            for db in list(store._dbs.values()):
                db.flush(wait=False)
        self.flushed_at = time.monotonic()


def _db(table: Any, partition: int) -> Any:
    return table.data._db_for_partition(partition)
