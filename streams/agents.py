"""The worker's Faust wiring: topics, tables, the batch route, the tick timer, the offers.

Tables (RocksDB locally, each with a changelog topic, keyed by click id):
- `clicks`: every click, compact (`streams.state`), swept after the longest attribution
  window;
- `pending_postbacks`: postbacks waiting for their click, with when they started waiting;
- `ledger`: per click, what was credited and how each postback was decided
  (`streams.ledger`).
Faust's tables provide the stores, the changelog topics, recovery and partition
assignment; the processor reads and writes them through `streams.tableio` (faster than
the Table's per-key path, same guarantees).

Raw clicks, raw postbacks and `hopstream-worker-ticks` (internal) feed one handler, in
fetched batches (`streams.batch_consumer`, `streams.dispatch`: a Faust agent's per-event
machinery alone cost more than the worker's work); see `streams.processor` for why one.
Faust still subscribes, assigns, acks and commits them as it would an agent's source. The
timer sends a tick to each tick partition this worker owns; handling it expires waiting
postbacks and sweeps old clicks in that partition's context.

An exception handling a postback must not lose it: the processor catches everything per
postback and records a `processing_error` issue instead; anything else that raises stops
the worker without acknowledging its batch (`streams.dispatch`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hopstream.settings import Settings
from schemas import topics
from streams import rocksdb_options
from streams.dispatch import Dispatch
from streams.offers_view import OffersView
from streams.processor import Processor

log = logging.getLogger(__name__)

def tick_interval_s(settings: Settings) -> float:
    # Often enough that a waiting postback is settled within ~1/5 of its grace period
    # after it ends, rarely enough to cost nothing at the default (600 s -> every 5 s).
    return min(max(settings.late_click_grace_s / 5, 0.2), 5.0)


def ticks_topic(app_id: str) -> str:
    """Internal, like the changelogs: one per app id. Created before the worker starts
    (`streams.worker`): the broker would otherwise create it on first use with its own
    default partition count, which breaks co-partitioning."""
    return f"{app_id}-ticks"


def register(app: Any, settings: Settings) -> OffersView:
    def topic(*names: str, **options: Any) -> Any:
        return app.topic(*names, key_type=bytes, value_type=bytes,
                         partitions=settings.partitions, **options)

    def table(name: str) -> Any:
        return app.Table(name, default=None, partitions=settings.partitions,
                         key_type=bytes, value_type=bytes, options=dict(rocksdb_options.OPTIONS))

    offers = OffersView(settings.bootstrap_servers)
    ticks_name = ticks_topic(app.conf.id)
    ticks = topic(ticks_name, internal=True)
    source = topic(topics.RAW_CLICKS.name, topics.RAW_POSTBACKS.name, ticks_name)
    processor = Processor(
        app, settings, offers,
        (table("clicks"), table("pending_postbacks"), table("ledger")),
        conversions=topic(topics.CONVERSIONS.name), issues=topic(topics.POSTBACK_ISSUES.name),
    )

    @app.task  # type: ignore[untyped-decorator]
    async def follow_offers() -> None:
        while True:
            try:
                await offers.follow()
            except Exception:
                log.exception("reading %s failed; retrying", topics.OFFERS.name)
                await asyncio.sleep(1.0)

    dispatch = Dispatch(processor, offers, ticks_name)
    app.route_batches(dispatch, source)

    @app.timer(tick_interval_s(settings))  # type: ignore[untyped-decorator]
    async def tick() -> None:
        for tp in app.assignor.assigned_actives():
            if tp.topic == ticks_name:
                await ticks.send(key=None, value=b"", partition=tp.partition)

    @app.on_partitions_assigned.connect  # type: ignore[untyped-decorator]
    async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
        mine = sorted(tp.partition for tp in assigned if tp.topic == topics.RAW_POSTBACKS.name)
        dispatch.assigned()
        log.info("worker owns partitions %s", mine)

    return offers
