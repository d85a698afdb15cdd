"""How the worker's consumer fetches: Faust's fetch, minus its per-record work, minus the
partitions held back for now, with a short fetch wait.

Faust's consumer runs aiokafka in a thread of its own; `_wait_next_records` asks that
thread for the records of the active partitions. `streams.batch_consumer` reads them
through `Fetching._fetch` instead of Faust's `getmany`, which wrapped every record in a
message object, looked up the partition's high watermark and called a sensor, per
record. Partitions the route holds back (`streams.read_order`: raw postbacks while their
clicks are read first) are left out of the request: their records stay in aiokafka's
fetch buffer, unread, their position unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.read_order import FetchState

log = logging.getLogger(__name__)

# How long the broker may hold a fetch that finds nothing new (Faust sets 1.5 s). aiokafka
# keeps one fetch in flight per broker, for the partitions with nothing buffered: while
# it waits on partitions at their end (a caught-up click partition, the ticks), a
# partition whose buffer was just drained cannot be fetched again. Catching up on a
# backlog, that stalled the worker up to 1.5 s at a time (`streams.read_order` leaves
# clicks at their end while postbacks are read).
FETCH_MAX_WAIT_MS = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):  # type: ignore[misc]
    """Faust's consumer thread, with the worker's fetch wait (`FETCH_MAX_WAIT_MS`)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class HoldBack(Protocol):
    def held_back(self, active: set[Any], fetch_state: Callable[[Any], FetchState]
                  ) -> set[Any]:
        """Of the `active` topic partitions, those not to be read for now
        (`fetch_state`: a partition's fetch position and high watermark)."""


class Fetching:
    """Mixed into the worker's Faust consumer (`streams.batch_consumer.BatchConsumer`),
    before Faust's consumer class, whose attributes these are."""

    app: Any
    flow_active: bool
    should_stop: bool
    _buffered_partitions: set[Any]
    _thread: Any
    loop: Any
    beacon: Any
    highwater: Callable[[Any], int]
    perform_seek: Callable[[], Awaitable[None]]
    _wait_next_records: Callable[[float], Awaitable[tuple[Any, Any]]]

    def _new_consumer_thread(self) -> Any:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _fetch(self, timeout: float  # noqa: ASYNC109 - Faust's name
                     ) -> tuple[int, list[tuple[Any, list[Any]]]]:
        """Faust's `getmany` without its per-record work (a message object, the high
        watermark and a sensor call each): the consumer generation it was fetched in, and
        the records of each partition it would yield, in order; none when the flow
        stopped (a rebalance: seek back to the committed offsets, as `getmany` does).

        `getmany` checked the flow and the generation again before yielding each record;
        the caller does the same with `current` (a rebalance can happen while it awaits).
        Faust's round-robin scheduler is not used: the fetch is at most a batch
        (`broker_max_poll_records`), handled as one."""
        generation: int = self.app.consumer_generation_id
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return generation, []
        if not self.flow_active:
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("seeking back to the committed offsets failed: %r", exc)
            return generation, []
        generation = self.app.consumer_generation_id
        buffered = self._buffered_partitions
        fetched = []
        for tp, tp_records in records.items():
            if active is None or tp in active or tp in buffered:
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                fetched.append((tp, tp_records))
        return generation, fetched

    def current(self, generation: int) -> bool:
        """Records fetched in `generation` may still be handled: no rebalance since."""
        return self.flow_active and self.app.consumer_generation_id == generation

    async def _getmany(self, active_partitions: set[Any] | None,
                       timeout: float) -> Any:  # noqa: ASYNC109 - Faust's signature
        """Faust's fetch, without the partitions the route holds back for now: their
        records stay in the fetch buffer, unread (`streams.read_order`)."""
        route: HoldBack | None = getattr(self.app, "route", None)
        if route is not None and active_partitions:
            try:
                held = route.held_back(active_partitions, self._fetch_state)
            except Exception:  # only an optimisation: never a reason to stop
                log.exception("choosing partitions to read first failed; reading all")
                held = set()
            if held:
                active_partitions = active_partitions - held
                if not active_partitions:  # aiokafka reads an empty set as "all"
                    await asyncio.sleep(min(timeout, 0.05))
                    return {}
        return await super()._getmany(active_partitions, timeout)  # type: ignore[misc]

    def _fetch_state(self, tp: Any) -> FetchState:
        """The fetch position and high watermark aiokafka holds for `tp` (None: not
        assigned here), read without a round trip to the consumer's thread, which may
        change them meanwhile: each is read once, and may be None."""
        consumer = self._thread._consumer
        subscription = consumer._subscription.subscription if consumer is not None else None
        assignment = subscription.assignment if subscription is not None else None
        state = assignment.state_value(tp) if assignment is not None else None
        if state is None:
            return None
        return state._position, state.highwater
