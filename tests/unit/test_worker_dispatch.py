"""streams.dispatch and streams.tableio: which partition each message's table access uses,
which failures stop the worker, and that a refused record blocks the commit."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from schemas import topics
from streams.dispatch import Dispatch
from streams.inflight import Fetched
from streams.progress import ClickProgress
from streams.tableio import DeliveryFailed, TableIO

TICKS = "hopstream-worker-ticks"


class Recorder:
    """Stands in for the processor: records what it was asked, and with which partition
    its table access would go to."""

    def __init__(self, fail_on: str = "") -> None:
        self.io = TableIO(SimpleNamespace(producer=None))
        self.progress = ClickProgress()
        self.seen: list[tuple[str, bytes | int, int | None]] = []
        self.published: list[int | None] = []
        self.fail_on = fail_on

    async def on_click(self, key: bytes, raw: bytes, partition: int, offset: int,
                       published_ms: int | None) -> None:
        self._record("click", key)
        self.published.append(published_ms)

    async def on_postback(self, key: bytes, raw: bytes, published_ms: int | None) -> None:
        self._record("postback", key)
        self.published.append(published_ms)

    async def on_tick(self, partition: int) -> None:
        self._record("tick", partition)

    def assigned(self) -> None:
        self.seen.append(("assigned", 0, None))

    def _record(self, kind: str, what: bytes | int) -> None:
        self.seen.append((kind, what, self.io.partition))
        if kind == self.fail_on:
            raise RuntimeError(f"{kind} failed")


def message(topic: str, partition: int, key: bytes = b"k", timestamp: int | None = None
            ) -> Fetched:
    record = SimpleNamespace(topic=topic, partition=partition, key=key, value=b"{}", offset=7,
                             timestamp=timestamp)
    return Fetched(TP(topic, partition), record, generation_id=1)


def dispatch(processor: Recorder) -> Dispatch:
    offers = SimpleNamespace(ready=asyncio.Event())
    offers.ready.set()
    return Dispatch(processor, offers, TICKS)  # type: ignore[arg-type]


async def test_each_message_is_handled_in_order_on_its_own_partition() -> None:
    processor = Recorder()
    await dispatch(processor).handle([
        message(topics.RAW_CLICKS.name, 3, b"a"),
        message(topics.RAW_POSTBACKS.name, 5, b"b"),
        message(TICKS, 1),
    ])
    assert processor.seen == [("click", b"a", 3), ("postback", b"b", 5), ("tick", 1, 1)]
    assert processor.published == [None, None]


async def test_the_publish_time_goes_with_each_message() -> None:
    processor = Recorder()
    await dispatch(processor).handle([message(topics.RAW_CLICKS.name, 0, timestamp=1500),
                                      message(topics.RAW_POSTBACKS.name, 0, timestamp=2250)])
    assert processor.published == [1500, 2250]
    assert processor.io.partition is None  # no table access outside a message


async def test_a_failed_tick_is_logged_and_the_batch_goes_on() -> None:
    processor = Recorder(fail_on="tick")
    await dispatch(processor).handle([message(TICKS, 2), message(topics.RAW_CLICKS.name, 2)])
    assert [kind for kind, _, _ in processor.seen] == ["tick", "click"]


async def test_a_failed_click_fails_the_batch_so_it_is_not_acknowledged() -> None:
    processor = Recorder(fail_on="click")
    with pytest.raises(RuntimeError, match="click failed"):
        await dispatch(processor).handle([message(topics.RAW_CLICKS.name, 0),
                                          message(topics.RAW_POSTBACKS.name, 0)])
    assert [kind for kind, _, _ in processor.seen] == ["click"]
    assert processor.io.partition is None


def test_table_access_outside_a_message_is_refused() -> None:
    io = TableIO(SimpleNamespace(producer=None))
    with pytest.raises(RuntimeError, match="handling of a message"):
        io.get(object(), b"key")


async def test_a_record_the_broker_refused_blocks_every_later_commit() -> None:
    io = TableIO(SimpleNamespace(producer=None))
    loop = asyncio.get_running_loop()
    taken: asyncio.Future[Any] = loop.create_future()
    taken.set_result(SimpleNamespace(topic_partition=None, offset=1))
    io._check(taken)
    io.check_delivered()  # nothing refused yet
    refused: asyncio.Future[Any] = loop.create_future()
    refused.set_exception(OSError("broker gone"))
    io._check(refused)
    for _ in range(2):
        with pytest.raises(DeliveryFailed):
            io.check_delivered()


async def test_raw_postback_partitions_are_held_back_while_their_clicks_are_behind() -> None:
    d = dispatch(Recorder())
    clicks, postbacks = topics.RAW_CLICKS.name, topics.RAW_POSTBACKS.name
    active = {TP(t, p) for t in (clicks, postbacks, TICKS) for p in (0, 1)}
    # Partition 0's clicks are behind, partition 1's all read.
    state = {TP(clicks, 0): (10, 500), TP(clicks, 1): (500, 500)}
    assert d.held_back(active, state.get) == {TP(postbacks, 0)}
    await d.handle([message(postbacks, 0, timestamp=1000)])  # read anyway (no clicks yet)
    d.processor.progress.handled(0, offset=99, published_ms=2_000)
    # The clicks read are newer than the postbacks read: nothing to hold back.
    assert d.held_back(active, state.get) == set()
    d.assigned()
    assert d.held_back(active, state.get) == {TP(postbacks, 0)}


def test_changelog_offsets_are_kept_only_in_stores_still_open_here() -> None:
    """An offset acknowledged around a rebalance must not reopen the store of a partition
    another worker owns now."""
    persisted: list[tuple[TP, int]] = []

    class Store:  # hashable, as Faust's stores are
        _dbs = {0: object()}

        def set_persisted_offset(self, tp: TP, offset: int) -> None:
            persisted.append((tp, offset))

    store = Store()
    io = TableIO(SimpleNamespace(producer=None))
    io.acked = {(store, TP("clicks-changelog", 0)): 10, (store, TP("clicks-changelog", 1)): 20}
    io.persist_offsets()
    assert persisted == [(TP("clicks-changelog", 0), 10)]
    assert io.acked == {}
