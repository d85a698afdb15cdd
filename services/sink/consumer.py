"""The sink: Kafka topics -> ClickHouse tables, committing offsets only after the write.

Commit policy (the contract everything downstream relies on):
1. rows accumulate in a `Batch` until it holds `sink_batch_rows` rows or its oldest row is
   `sink_batch_seconds` old;
2. the batch is inserted, one insert per table, skipping rows the replay guard finds
   already written (`services.sink.replay`); messages ClickHouse refuses (not valid
   messages, or rows refused for their content) are dead-lettered
   (`services.sink.rejects`);
3. only then are its offsets committed. A crash between 2 and 3 replays the batch: the
   guard keeps the replayed rows out of ClickHouse, and the tables (ReplacingMergeTree on
   their ids) would collapse any that got through, so reads with FINAL stay exact.

While ClickHouse refuses writes, the batch is retried with backoff and every assigned
partition is paused, so memory stays bounded (backpressure) and the consumer keeps polling,
which keeps its group membership alive. A partition revoked meanwhile leaves the batch
before the next attempt; the revocation waits for a write in progress, so the partition's
next owner never races this sink's last insert of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError

from hopstream.settings import Settings
from services.kafka.producer import make_producer
from services.sink.batch import Batch
from services.sink.rejects import dead_letter, refused_record
from services.sink.replay import ReplayGuard
from services.sink.tables import TABLES
from services.sink.writer import Writer

log = logging.getLogger(__name__)

GROUP_ID = "hopstream-sink"
MAX_BACKOFF_S = 30.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Uncommitted rows of a partition we lose are read again by its next owner, who
        # must not start before our insert in progress (if any) has finished.
        async with self.sink.write_lock:
            self.sink.batch.drop(revoked)
            if self.sink.inflight is not None:
                self.sink.inflight.drop(revoked)
            self.sink.guard.forget(revoked)
            self.sink.unwatched.difference_update(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("sink assigned %d partitions", len(assigned))
        self.sink.unwatched.update(assigned)


class Sink:
    def __init__(self, settings: Settings, writer: Writer, group_id: str = GROUP_ID) -> None:
        self.settings = settings
        self.writer = writer
        self.batch = Batch()
        self.inflight: Batch | None = None
        self.guard = ReplayGuard()
        # Assigned partitions whose end offset the guard has not been told yet.
        self.unwatched: set[TopicPartition] = set()
        self.write_lock = asyncio.Lock()
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
        self.producer: AIOKafkaProducer = make_producer(settings, client_id="hopstream-sink")
        self._stopping = asyncio.Event()

    async def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Consume until `stop()`; the current batch is written and committed on the way out."""
        await self.producer.start()
        try:
            await self.consumer.start()
            try:
                self.consumer.subscribe(list(TABLES), listener=_Rebalance(self))
                await self._consume(on_ready)
                await self.flush()
            finally:
                await self.consumer.stop()
        finally:
            await self.producer.stop()

    async def _consume(self, on_ready: Callable[[], None] | None) -> None:
        # One batch is written (a task) while the next one fills: decoding overlaps the
        # insert. Batches are still written and committed strictly one after the other.
        writing: asyncio.Task[None] | None = None
        ready_sent = False
        try:
            while not self._stopping.is_set():
                records = await self.consumer.getmany(
                    timeout_ms=self._poll_timeout_ms(),
                    max_records=self.settings.sink_batch_rows,
                )
                if not ready_sent and self.consumer.assignment():
                    ready_sent = True
                    if on_ready is not None:
                        on_ready()
                self._add_all(records)
                if writing is not None and writing.done():
                    finished, writing = writing, None
                    finished.result()  # a write that gave up (or the process dying) ends here
                if self._due():
                    if writing is not None:
                        await self._wait_paused(writing)
                        writing = None
                    batch, self.batch = self.batch, Batch()
                    writing = asyncio.create_task(self._write_and_commit(batch))
        finally:
            if writing is not None:
                await writing

    async def _wait_paused(self, writing: asyncio.Task[None]) -> None:
        """Wait for the batch being written while the next one is full: read nothing
        more meanwhile (backpressure), but keep polling, which keeps the membership."""
        paused = set(self.consumer.assignment())
        self.consumer.pause(*paused)
        try:
            while not writing.done():
                await asyncio.wait([writing], timeout=0.2)
                if not writing.done():
                    # Normally empty; records fetched before the pause still count.
                    self._add_all(await self.consumer.getmany(timeout_ms=0))
        finally:
            self.consumer.resume(*(paused & self.consumer.assignment()))
        writing.result()

    def stop(self) -> None:
        self._stopping.set()

    def _add_all(self, records: dict[TopicPartition, list[Any]]) -> None:
        # No work per message here: ClickHouse parses the values (services.sink.staging).
        for tp, messages in records.items():
            self.batch.add(tp, messages)

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
        await self._write_and_commit(batch)

    async def _write_and_commit(self, batch: Batch) -> None:
        if batch.is_empty():
            return
        self.inflight = batch
        try:
            await self._write_with_retry(batch)
        finally:
            self.inflight = None
        # Offsets of partitions revoked while we wrote must not be committed by us.
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in batch.next_offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, RebalanceInProgressError) as exc:
            # The rows are written; whoever owns the partitions next checks before it
            # inserts them again (replay guard), and the tables collapse repeats anyway.
            log.warning("commit after write failed (%s); rows will be replayed", exc)

    async def _write_once(self, batch: Batch) -> None:
        if self.unwatched:
            # Rows below the end offset at assignment may have been written by the
            # previous owner of the partition without being committed.
            partitions, self.unwatched = list(self.unwatched), set()
            for tp, end in (await self.consumer.end_offsets(partitions)).items():
                self.guard.watch(tp, end)
        async with self.write_lock:
            refused = await self.writer.write(batch.by_table(), self.guard)
            rejects = [refused_record(item, error) for item, error in refused]
            if rejects:
                await dead_letter(self.producer, self.writer, rejects)

    async def _write_with_retry(self, batch: Batch) -> None:
        backoff = 0.1
        paused: set[TopicPartition] = set()
        try:
            while True:
                try:
                    await self._write_once(batch)
                    return
                except Exception as exc:
                    # Part of the batch may have landed: check all of it on the next try.
                    for tp, next_offset in batch.next_offsets.items():
                        self.guard.watch(tp, next_offset)
                    log.warning("ClickHouse write of %d rows failed (%s); retrying in %.1fs",
                                batch.rows, exc, backoff)
                    paused = set(self.consumer.assignment())
                    self.consumer.pause(*paused)
                    # The consume loop keeps polling meanwhile (paused: it reads nothing),
                    # which keeps the group membership.
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
        finally:
            if paused:
                self.consumer.resume(*(paused & self.consumer.assignment()))
