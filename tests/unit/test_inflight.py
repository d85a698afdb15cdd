"""streams.inflight: a batch is acknowledged exactly as Faust's `Consumer.ack` would
acknowledge each of its messages, and a rebalance waits for a batch being handled."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from weakref import WeakSet

from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams import inflight
from streams.inflight import Fetched

ACKING = {"clicks", "postbacks"}  # "changelog" is not acked (as Faust's internal topics)


def consumer(committed: dict[TP, int]) -> Any:
    """The state `Consumer.ack` reads and writes, as Faust sets it up."""
    return SimpleNamespace(
        app=SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=ACKING.__contains__)),
        _committed_offset=defaultdict(lambda: None, committed), _acked=defaultdict(list),
        _acked_index=defaultdict(set), _unacked_messages=WeakSet(), _n_acked=0,
        _waiting_for_ack=None)


def records() -> list[tuple[str, int, int]]:
    # Two partitions of two acked topics, one topic not acked, offsets below the committed
    # one, and an offset fetched twice.
    return [("clicks", 0, o) for o in (3, 4, 5, 5, 6)] + [("postbacks", 1, o) for o in (0, 1)] + [
        ("changelog", 0, 9), ("clicks", 1, 10)]


def test_a_batch_is_acked_as_faust_acks_each_message() -> None:
    committed = {TP("clicks", 0): 4}
    theirs, ours = consumer(committed), consumer(committed)
    for topic, partition, offset in records():
        tp = TP(topic, partition)
        message = ConsumerMessage(topic, partition, offset, 0.0, 0, None, b"k", b"v", None,
                                  1, 1, tp)
        Consumer.ack(theirs, message)
    batch = [Fetched(TP(t, p), SimpleNamespace(topic=t, partition=p, offset=o, timestamp=0,
                                               key=b"k", value=b"v"), 1)
             for t, p, o in records()]
    handling = inflight.start(ours, batch)
    assert list(ours._unacked_messages) == [handling]
    inflight.acknowledge(ours, handling, batch)
    assert dict(ours._acked) == dict(theirs._acked)
    assert dict(ours._acked_index) == dict(theirs._acked_index)
    assert ours._n_acked == theirs._n_acked == 6
    assert not ours._unacked_messages and handling.acked


async def test_acknowledging_wakes_a_rebalance_waiting_for_it() -> None:
    state = consumer({})
    batch = [Fetched(TP("clicks", 0), SimpleNamespace(topic="clicks", partition=0, offset=0,
                                                      timestamp=0, key=None, value=b""), 1)]
    handling = inflight.start(state, batch)
    state._waiting_for_ack = asyncio.get_running_loop().create_future()
    inflight.acknowledge(state, handling, batch)
    assert state._waiting_for_ack.done()


def test_a_forgotten_batch_is_no_longer_waited_for_nor_acked() -> None:
    state = consumer({})
    handling = inflight.start(state, [])
    inflight.forget(state, handling)
    assert not state._unacked_messages
    assert not state._acked
