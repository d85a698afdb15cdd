"""Each fetched batch of the worker's topics, to the processor: one message at a time.

Raw clicks, raw postbacks and the worker's ticks come here from `streams.batch_consumer`
(not through a Faust agent: its per-event machinery cost more than the worker's own
work). The batch holds messages of several partitions, in each partition's order; every
message is handled with the table partition set to its own (`TableIO.partition`), which
is what Faust's current event did for the agent.

What happens when something fails:
- a postback: the processor catches everything and records a `processing_error` issue;
- a tick (expiring parked postbacks, sweeping): logged; the next tick retries;
- anything else (a click whose handling raised, RocksDB, the producer): the exception
  leaves `handle`, the batch is not acknowledged and the worker stops, so the messages
  are read again from the last commit (at-least-once; the ledger re-emits decisions).
`handle` returns the future of handing every record the batch produced to the producer:
the consumer acknowledges the batch once it is done, and Faust flushes the producer
before it commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from faust.types import TP

from schemas import topics
from streams.offers_view import OffersView
from streams.processor import Processor
from streams.read_order import FetchState, ReadOrder

log = logging.getLogger(__name__)


class Dispatch:
    """The `streams.batch_consumer.Route` of the worker's source topics."""

    def __init__(self, processor: Processor, offers: OffersView, ticks_topic: str) -> None:
        self.processor = processor
        self.offers = offers
        self.ticks_topic = ticks_topic
        self.topics = frozenset({topics.RAW_CLICKS.name, topics.RAW_POSTBACKS.name,
                                 ticks_topic})
        self.read_order = ReadOrder(processor.progress)

    def assigned(self) -> None:
        """Partitions were (re)assigned."""
        self.processor.assigned()
        self.read_order.reset()

    def held_back(self, active: set[Any], fetch_state: Callable[[Any], FetchState]
                  ) -> set[Any]:
        """Raw postback partitions whose clicks are read first (`streams.read_order`)."""
        postbacks, clicks = topics.RAW_POSTBACKS.name, topics.RAW_CLICKS.name
        held = self.read_order.held([tp.partition for tp in active if tp.topic == postbacks],
                                    lambda partition: fetch_state(TP(clicks, partition)))
        return {TP(postbacks, partition) for partition in held}

    async def handle(self, messages: Sequence[Any]) -> asyncio.Future[None]:
        if not self.offers.ready.is_set():
            await self.offers.ready.wait()  # a click's offer must be known to settle
        processor = self.processor
        io = processor.io
        read_order = self.read_order
        postbacks, clicks = topics.RAW_POSTBACKS.name, topics.RAW_CLICKS.name
        try:
            for message in messages:
                io.partition = message.partition
                topic = message.topic
                if topic == postbacks:
                    published_ms = message.timestamp_ms
                    if published_ms is not None:
                        read_order.postback_handled(message.partition, published_ms)
                    await processor.on_postback(message.key, message.value, published_ms)
                elif topic == clicks:
                    await processor.on_click(message.key, message.value, message.partition,
                                             message.offset, message.timestamp_ms)
                else:
                    await self._tick(message.partition)
        finally:
            io.partition = None
        # At most one handover waits for the producer while the next batch is handled:
        # what the broker's round trip costs overlaps with the handling, and memory stays
        # bounded to two batches' records.
        if io.handing is not None and not io.handing.done():
            await asyncio.shield(io.handing)
        return io.hand_over()

    async def _tick(self, partition: int) -> None:
        try:
            await self.processor.on_tick(partition)
        except Exception:
            log.exception("tick of partition %d failed", partition)

    def check_delivered(self) -> None:
        self.processor.io.check_delivered()
