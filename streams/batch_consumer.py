"""Faust's consumer, handing each fetched batch of the worker's topics to one function.

Why: Faust delivers every message through a chain built for many agents sharing topics:
`_drain_messages` wraps each one in `wait_first` (two tasks per message), the conductor
decodes it into an Event and puts it on the agent's queue, the Stream takes it off again,
sets the current event, calls sensors and acks it. Measured on this machine
(`bench/faust_overhead.py`), an agent doing nothing read 11,000-13,000 events/s, a third
of the worker's budget. Here the messages of the routed topics go, one fetched batch at a
time, to a handler (`streams.dispatch`), with none of that per-message machinery.

Everything else stays Faust's: the app, the consumer group and partition assignment,
tables and their changelogs, recovery (changelog and other topics still go through the
conductor exactly as Faust sends them), and the commit. The acknowledgement bookkeeping is
Faust's own too, used as the Stream uses it:
- before the handler runs, the batch's messages are registered as unacked, so a
  rebalance (`wait_empty`) waits for the handler to finish;
- once every record those messages produced (changelog records and outputs) is with
  the producer (the future the handler returns), they are acked with `Consumer.ack`;
- Faust commits only acked offsets, and flushes the producer before it commits
  (`Consumer._commit_offsets`); this consumer then refuses to commit, and stops the
  worker, if the broker refused any record (`Route.check_delivered`): Faust's flush does
  not tell, and committing past a lost outcome would lose it for good.
A handler that raises leaves its batch unacked and stops the worker: at-least-once, the
batch is read again from the last commit by the next worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial
from typing import Any, Protocol

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import inflight
from streams.fetching import Fetching, HoldBack
from streams.inflight import Fetched

log = logging.getLogger(__name__)

# A fetch can hold a partition's whole backlog (the embedded broker returns far more than
# the fetch size asks): handing it over in one piece kept every message of it alive at
# once (~6 KB per click + postback in the benchmark's peak RSS).
MAX_BATCH = 1000


class Route(HoldBack, Protocol):
    """Where the batches of some topics go (and which partitions to read first)."""

    topics: frozenset[str]

    async def handle(self, messages: Sequence[Any]) -> asyncio.Future[None]:
        """Handle the messages, in order; return the future of handing everything they
        produced to the producer."""

    def check_delivered(self) -> None:
        """Raise if the broker refused a record handed to the producer."""


class BatchConsumer(Fetching, faust_aiokafka.Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer, with the routed topics' messages delivered in batches."""

    _crashing: asyncio.Future[None] | None = None

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - the fetcher
        route: Route | None = getattr(self.app, "route", None)
        routed = route.topics if route is not None else frozenset()
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        batch: list[Fetched] = []
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                await self.sleep(0)
                if self.should_stop:
                    break
                generation, fetched = await self._fetch(timeout=1.0)
                current = self.current
                for tp, records in fetched:
                    to_route = route is not None and tp.topic in routed
                    for record in records:
                        # Never accepted once a rebalance began: it resets the read offsets.
                        if not current(generation):
                            break
                        if not await self._accept(tp, record.offset, record.topic):
                            continue
                        if to_route:
                            batch.append(Fetched(tp, record, generation))
                        else:  # changelogs (recovery, standbys): Faust's own path
                            await self.wait_first(self.callback(self._to_message(tp, record)),
                                                  self.suspend_flow.wait())
                    if route is not None and len(batch) >= MAX_BATCH:
                        await self._deliver(route, batch)
                        batch = []
                if batch and route is not None:
                    await self._deliver(route, batch)
                    batch = []
                self.diag.unset_flag(CONSUMER_FETCHING)
                n_acked: int = self._n_acked  # type: ignore[has-type]
                if self._commit_every is not None and n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except Exception as exc:
            log.exception("handling a batch failed; stopping without acknowledging it")
            await self.app.crash(exc)
            raise

    async def _accept(self, tp: Any, offset: int, topic: str) -> bool:
        """Faust's read-offset and gap bookkeeping for one fetched record."""
        read = self._read_offset[tp]
        if read is not None and offset < read:
            return False  # already read (Faust drops these too)
        if read and offset - read > 1 and self.app.topics.acks_enabled_for(topic):
            await self._add_gap(tp, read + 1, offset)
        self._read_offset[tp] = offset
        return True

    async def _deliver(self, route: Route, batch: list[Fetched]) -> None:
        app = self.app
        if not (self.flow_active and app.flow_control.is_active()):
            return  # rebalancing: read again from the committed offsets afterwards
        generation = app.consumer_generation_id
        if any(m.generation_id != generation for m in batch):
            return  # fetched before a rebalance, which seeks back to the committed offsets
        handling = inflight.start(self, batch)
        try:
            handed = await route.handle(batch)
        except BaseException:
            inflight.forget(self, handling)
            raise
        handed.add_done_callback(partial(self._acknowledge, handling, batch))

    def _acknowledge(self, handling: inflight.InFlight, batch: list[Fetched],
                     handed: asyncio.Future[None]) -> None:
        """Ack the batch once everything it produced is with the producer; if that
        failed, stop the worker without acking it."""
        if handed.cancelled() or handed.exception() is not None:
            inflight.forget(self, handling)
            if not handed.cancelled():
                log.error("handing records to the producer failed; stopping",
                          exc_info=handed.exception())
                self._crashing = asyncio.ensure_future(self.app.crash(handed.exception()))
            return
        inflight.acknowledge(self, handling, batch)

    async def _commit(self, offsets: Any) -> bool:
        route: Route | None = getattr(self.app, "route", None)
        if route is not None:
            try:
                route.check_delivered()
            except Exception as exc:
                log.critical("not committing offsets %s: a record was lost", offsets)
                await self.crash(exc)
                return False
        committed: bool = await super()._commit(offsets)
        return committed


class BatchTransport(faust_aiokafka.Transport):  # type: ignore[misc]
    Consumer = BatchConsumer


class BatchApp(faust.App):  # type: ignore[misc]
    """A Faust app whose consumer is a `BatchConsumer`; `route_batches` says which
    topics go where."""

    route: Route | None = None

    def _new_transport(self) -> Any:
        return BatchTransport(self.conf.broker_consumer, self)

    def route_batches(self, route: Route, topic: Any) -> None:
        """Subscribe to `topic` (Faust assigns, acks and commits it as any agent's source)
        and send the messages of the route's topics to the route."""
        self.route = route
        self.topics.add(topic)
