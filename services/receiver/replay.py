"""Replaying the spool to the broker, in journal order, once the broker is back.

A background task of the receiver. It wakes when something was spooled, probes the broker
by making sure every topic exists (an embedded broker comes back empty; on a real cluster
this is a cheap metadata call), sends the spooled records in order and advances the
replayed offset only as the broker acknowledges them. When the spool is empty it resets
the file and lets requests go to the broker directly again. Failures back off and retry;
records stay in the journal until acknowledged, so a crash mid-replay replays them again
at the next start (duplicates downstream are collapsed, losses are not possible).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError

from hopstream.settings import Settings
from services.kafka.admin import TopicError, ensure_topics
from services.receiver.publisher import Publisher

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


async def replay_forever(publisher: Publisher, settings: Settings) -> None:
    backoff = 0.25
    while True:
        await publisher.wake.wait()
        publisher.wake.clear()
        if publisher.broker_up and not publisher.spool.pending_records:
            continue
        try:
            await drain(publisher, settings)
            backoff = 0.25
        except (KafkaError, TimeoutError, TopicError, OSError) as exc:
            log.warning("spool replay: broker not available yet (%s: %s); retrying in %.1fs",
                        type(exc).__name__, exc, backoff)
        except Exception:
            # Never let the replayer die quietly: the spool would only grow from then on.
            log.exception("spool replay failed unexpectedly; retrying in %.1fs", backoff)
        else:
            continue
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        publisher.wake.set()


async def drain(publisher: Publisher, settings: Settings) -> None:
    spool = publisher.spool
    # Once per replay, not per record: cheap, and the topics may be gone (an embedded broker
    # restarts empty) even when the spool is left over from an earlier run.
    await ensure_topics(settings, connect_within_s=publisher.produce_timeout_s)
    replayed = 0
    while True:
        records = spool.read()
        if not records:
            if spool.reset_if_drained():
                break
            if not spool.appending and spool.replayed < spool.size:
                # Bytes on disk that hold no complete record (a failed write that could not
                # be cut back): looping here would spin the event loop forever.
                raise OSError(f"spool {spool.path}: no complete record after offset "
                              f"{spool.replayed} of {spool.size}")
            await spool.flush()  # appends in progress: replay them too before switching
            await asyncio.sleep(0)
            continue
        # Queue the whole batch, then wait in order: the producer keeps per-partition order
        # and batches them, instead of one round trip per record.
        futures = [
            await publisher.producer.send(r.topic, value=r.value, key=r.key) for r in records
        ]
        try:
            for record, future in zip(records, futures, strict=True):
                await asyncio.wait_for(asyncio.shield(future), publisher.produce_timeout_s)
                spool.mark_replayed(record)
                publisher.metrics.replayed.inc()
                replayed += 1
        finally:
            # The rest of a failed batch is retried from the journal: its outcomes are moot.
            for future in futures:
                future.add_done_callback(_consume_outcome)
            publisher.update_gauges()
    if replayed:
        log.info("spool replay: %d records sent to the broker", replayed)
    publisher.mark_up()


def _consume_outcome(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def stop_replay(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
