"""The worker's fetched messages, and Faust's acknowledgement bookkeeping done per batch.

Faust wraps every fetched record in a `ConsumerMessage` (a dozen fields, a refcount, a
weak reference in the consumer's unacked set) and acks each one under a lock: profiled,
~5 us per click + postback of the worker's time for nothing the worker reads. The
messages of the routed topics are `Fetched` records instead (what the handler reads),
and a batch is acknowledged in one step that does exactly what `Consumer.ack` does per
message (`faust/transport/consumer.py`):
- each offset at or above the committed offset goes once into `_acked_index[tp]` and
  `_acked[tp]`, which is all Faust's commit reads (`_new_offset`), and `_n_acked` counts
  it (the commit every `broker_commit_every` acks);
- under Faust's `ack_lock`, and `_waiting_for_ack` is notified (a rebalance's
  `wait_empty` waits on it).
What `wait_empty` waits for is one `InFlight` per batch in `_unacked_messages`, with the
`acked` and `refcount` it reads: a rebalance still waits for every batch being handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faust.types.tuples import ack_lock
from mode.utils.futures import notify


class Fetched:
    """A fetched record of a routed topic: what the handler reads of it."""

    __slots__ = ("generation_id", "key", "offset", "partition", "timestamp_ms", "topic",
                 "tp", "value")

    def __init__(self, tp: Any, record: Any, generation_id: int) -> None:
        self.tp = tp
        self.topic: str = record.topic
        self.partition: int = record.partition
        self.offset: int = record.offset
        self.timestamp_ms: int | None = record.timestamp  # ms, when the receiver published
        self.key: bytes | None = record.key
        self.value: bytes | None = record.value
        self.generation_id = generation_id


class InFlight:
    """A batch being handled, as the consumer's unacked set sees it."""

    __slots__ = ("__weakref__", "acked", "refcount", "size")

    def __init__(self, size: int) -> None:
        self.acked = False
        self.refcount = 1
        self.size = size

    def __repr__(self) -> str:
        return f"<batch of {self.size} messages being handled>"


def start(consumer: Any, batch: Sequence[Fetched]) -> InFlight:
    """Register a batch as being handled: a rebalance waits for it (`wait_empty`)."""
    inflight = InFlight(len(batch))
    consumer._unacked_messages.add(inflight)
    return inflight


def forget(consumer: Any, inflight: InFlight) -> None:
    """The batch will not be acked (it is read again): nothing must wait for it."""
    consumer._unacked_messages.discard(inflight)


def acknowledge(consumer: Any, inflight: InFlight, batch: Sequence[Fetched]) -> None:
    """`Consumer.ack` for every message of the batch, in one step."""
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    enabled: dict[str, bool] = {}
    committed_offsets, indexes, acked = (consumer._committed_offset, consumer._acked_index,
                                         consumer._acked)
    with ack_lock:
        counted = 0
        for message in batch:
            topic = message.topic
            if topic not in enabled:
                enabled[topic] = acks_enabled_for(topic)
            if not enabled[topic]:
                continue
            tp, offset = message.tp, message.offset
            committed = committed_offsets[tp]
            if committed is None or offset >= committed:
                index = indexes[tp]
                if offset not in index:
                    index.add(offset)
                    acked[tp].append(offset)
                    counted += 1
        consumer._n_acked += counted
        inflight.acked = True
        inflight.refcount = 0
        consumer._unacked_messages.discard(inflight)
        notify(consumer._waiting_for_ack)
