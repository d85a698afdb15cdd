"""streams.fetching: which partitions the worker's consumer asks Faust's fetch for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer.subscription_state import SubscriptionState

from hopstream.settings import Settings
from streams.app import create_app
from streams.fetching import FETCH_MAX_WAIT_MS, Fetching

A, B = TopicPartition("a", 0), TopicPartition("b", 0)


class FaustFetch:
    """Stands in for Faust's consumer under the mixin: records what it was asked."""

    asked: set[Any] | None = None

    async def _getmany(self, active_partitions: set[Any],
                       timeout: float) -> Any:  # noqa: ASYNC109 - Faust's signature
        self.asked = active_partitions
        return {tp: ["record"] for tp in active_partitions}


class Consumer(Fetching, FaustFetch):
    def __init__(self, held: set[Any] | Exception) -> None:
        def held_back(active: set[Any], fetch_state: Any) -> set[Any]:
            if isinstance(held, Exception):
                raise held
            return held

        self.app = SimpleNamespace(route=SimpleNamespace(held_back=held_back))


async def test_held_partitions_are_left_out_of_the_fetch() -> None:
    consumer = Consumer(held={B})
    assert await consumer._getmany({A, B}, 1.0) == {A: ["record"]}
    assert consumer.asked == {A}


async def test_all_held_asks_for_nothing_as_aiokafka_reads_an_empty_set_as_all() -> None:
    consumer = Consumer(held={A, B})
    assert await consumer._getmany({A, B}, 0.01) == {}
    assert consumer.asked is None


async def test_a_failing_choice_reads_every_partition() -> None:
    consumer = Consumer(held=RuntimeError("boom"))
    assert await consumer._getmany({A, B}, 1.0) == {A: ["record"], B: ["record"]}


async def test_fetch_state_reads_aiokafkas_position_and_high_watermark() -> None:
    subscription = SubscriptionState()
    consumer = Consumer(held=set())
    consumer._thread = SimpleNamespace(_consumer=SimpleNamespace(_subscription=subscription))
    assert consumer._fetch_state(A) is None  # nothing assigned yet
    subscription.assign_from_user({A})
    assert consumer._fetch_state(A) == (None, None)  # assigned, not fetched
    state = subscription.subscription.assignment.state_value(A)
    state.seek(5)
    state.highwater = 10
    assert consumer._fetch_state(A) == (5, 10)
    assert consumer._fetch_state(B) is None  # not assigned here
    consumer._thread = SimpleNamespace(_consumer=None)  # consumer not started
    assert consumer._fetch_state(A) is None


async def test_the_worker_consumer_waits_at_most_fetch_max_wait_ms(tmp_path: Any) -> None:
    app, _ = create_app(Settings.from_env({}, data_dir=tmp_path))
    aiokafka_consumer = app.consumer._thread._create_worker_consumer(app.transport)
    assert aiokafka_consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS


class Fetcher(Fetching):
    """`_fetch` over canned fetch results, with the consumer state it reads."""

    def __init__(self, records: dict[Any, list[str]] | None, active: set[Any] | None,
                 flow_active: bool = True) -> None:
        self.result = (records, active)
        self.flow_active = flow_active
        self.should_stop = False
        self._buffered_partitions: set[Any] = set()
        self.tracked: list[Any] = []
        self.sought = False
        self.app = SimpleNamespace(
            consumer_generation_id=3,
            monitor=SimpleNamespace(track_tp_end_offset=lambda tp, hw: self.tracked.append(tp)))
        self.highwater = lambda tp: 0  # type: ignore[method-assign]

    async def _wait_next_records(self, timeout: float  # noqa: ASYNC109
                                 ) -> tuple[Any, Any]:
        return self.result

    async def perform_seek(self) -> None:
        self.sought = True


async def test_fetch_yields_the_active_partitions_records_with_their_generation() -> None:
    fetcher = Fetcher({A: ["a1", "a2"], B: ["b1"]}, active={A})
    assert await fetcher._fetch(1.0) == (3, [(A, ["a1", "a2"])])
    assert fetcher.tracked == [A]
    assert fetcher.current(3)
    fetcher.app.consumer_generation_id = 4  # a rebalance began
    assert not fetcher.current(3)


async def test_a_fetch_while_the_flow_is_stopped_seeks_back_and_yields_nothing() -> None:
    fetcher = Fetcher({A: ["a1"]}, active={A}, flow_active=False)
    assert await fetcher._fetch(1.0) == (3, [])
    assert fetcher.sought
    assert not fetcher.current(3)
