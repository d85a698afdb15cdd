"""The sink: Kafka topics -> ClickHouse tables, committing offsets only after the write.

Commit policy (the contract everything downstream relies on):
1. rows accumulate in a `Batch` until it holds `sink_batch_rows` rows or its oldest row is
   `sink_batch_seconds` old;
2. the batch is inserted, one insert per table;
3. only then are its offsets committed. A crash between 2 and 3 replays the batch, and the
   tables (ReplacingMergeTree on their ids) collapse the repeated rows: reads with FINAL
   stay exact. Delivery is at-least-once; exactness comes from idempotent rows.

While ClickHouse refuses writes, the batch is retried with backoff and every assigned
partition is paused, so memory stays bounded (backpressure) and the consumer keeps polling,
which keeps its group membership alive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError

from hopstream.settings import Settings
from services.sink.batch import Batch
from services.sink.tables import TABLES
from services.sink.writer import Writer

log = logging.getLogger(__name__)

GROUP_ID = "hopstream-sink"
MAX_BACKOFF_S = 30.0


class _DropRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Uncommitted rows of a partition we lose are read again by its next owner.
        self.sink.batch.drop(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("sink assigned %d partitions", len(assigned))


class Sink:
    def __init__(self, settings: Settings, writer: Writer, group_id: str = GROUP_ID) -> None:
        self.settings = settings
        self.writer = writer
        self.batch = Batch()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=group_id,
            client_id="hopstream-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.session_timeout_s * 1000 / 5),
            rebalance_timeout_ms=int(settings.rebalance_timeout_s * 1000),
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self._stopping = asyncio.Event()

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Consume until `stop()`; the current batch is written and committed on the way out."""
        await self.consumer.start()
        self.consumer.subscribe(list(TABLES), listener=_DropRevoked(self))
        ready_sent = False
        try:
            while not self._stopping.is_set():
                timeout = self._poll_timeout_ms()
                records = await self.consumer.getmany(
                    timeout_ms=timeout, max_records=self.settings.sink_batch_rows
                )
                if not ready_sent and self.consumer.assignment():
                    ready_sent = True
                    if on_ready is not None:
                        on_ready()
                for tp, messages in records.items():
                    spec = TABLES[tp.topic]
                    for message in messages:
                        self._add(tp, message, spec)
                if self._due():
                    await self.flush()
            await self.flush()
        finally:
            await self.consumer.stop()

    def stop(self) -> None:
        self._stopping.set()

    def _add(self, tp: TopicPartition, message: Any, spec: Any) -> None:
        try:
            row = spec.to_row(message.value)
        except ValueError:
            # A message that breaks its contract cannot become a row. It stays in Kafka
            # (the raw topic is the record); skipping it keeps the partition moving.
            log.exception("skipping %s[%d]@%d: not a valid message", tp.topic, tp.partition,
                          message.offset)
            self.batch.skip(tp, message.offset)
            return
        self.batch.add(tp, message.offset, spec.table, row)

    def _poll_timeout_ms(self) -> int:
        if self.batch.is_empty():
            return 200
        remaining = self.settings.sink_batch_seconds - self.batch.age()
        return max(0, min(200, int(remaining * 1000)))

    def _due(self) -> bool:
        if self.batch.is_empty():
            return False
        return (
            self.batch.rows >= self.settings.sink_batch_rows
            or self.batch.age() >= self.settings.sink_batch_seconds
        )

    async def flush(self) -> None:
        batch, self.batch = self.batch, Batch()
        if batch.is_empty():
            return
        await self._write_with_retry(batch)
        # Offsets of partitions revoked while we wrote must not be committed by us.
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in batch.next_offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
            # The rows are written; whoever owns the partitions next replays them and the
            # tables collapse the repeats.
            log.warning("commit after write failed (%s); rows will be replayed", exc)

    async def _write_with_retry(self, batch: Batch) -> None:
        backoff = 0.1
        paused: set[TopicPartition] = set()
        try:
            while True:
                try:
                    await self.writer.write(batch.by_table())
                    return
                except Exception as exc:
                    log.warning("ClickHouse write of %d rows failed (%s); retrying in %.1fs",
                                batch.rows, exc, backoff)
                    paused = set(self.consumer.assignment())
                    self.consumer.pause(*paused)
                    # Polling while paused returns nothing but keeps the group membership.
                    await self.consumer.getmany(timeout_ms=int(backoff * 1000))
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
        finally:
            if paused:
                self.consumer.resume(*(paused & self.consumer.assignment()))
