"""services.sink.batch: messages per partition, the offsets they cover, dropping on revoke;
services.sink.replay: which of them the replay guard checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition

import services.sink.batch as batch_module
from services.sink.batch import Batch
from services.sink.replay import ReplayGuard

TP0 = TopicPartition("hopstream.clicks.raw", 0)
TP1 = TopicPartition("hopstream.clicks.raw", 1)
TP2 = TopicPartition("hopstream.conversions", 0)


@dataclass(frozen=True)
class Msg:
    """What the batch reads of a consumer record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = b""


def msgs(tp: TopicPartition, *offsets: int) -> list[Msg]:
    return [Msg(tp.topic, tp.partition, o, value=f"{tp.partition}@{o}".encode())
            for o in offsets]


def offsets(items: list[Msg]) -> list[tuple[int, int]]:
    return [(m.partition, m.offset) for m in items]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(batch_module, "time", fake)
    return fake


def test_new_batch_is_empty() -> None:
    batch = Batch()
    assert batch.is_empty()
    assert batch.rows == 0
    assert batch.age() == 0.0
    assert batch.by_table() == {}
    assert batch.next_offsets == {}


def test_add_counts_the_messages_and_covers_their_offsets() -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 41))
    assert not batch.is_empty()
    assert batch.rows == 1
    assert batch.next_offsets == {TP0: 42}
    assert offsets(batch.by_table()["clicks"]) == [(0, 41)]


def test_next_offset_is_last_offset_plus_one() -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 10, 11))
    batch.add(TP0, msgs(TP0, 15))
    batch.add(TP1, msgs(TP1, 3))
    assert batch.next_offsets == {TP0: 16, TP1: 4}
    assert batch.rows == 4


def test_adding_nothing_changes_nothing(clock: FakeClock) -> None:
    batch = Batch()
    batch.add(TP0, [])
    assert batch.is_empty()
    clock.now += 5
    assert batch.age() == 0.0


def test_age_counts_from_the_first_message(clock: FakeClock) -> None:
    batch = Batch()
    assert batch.age() == 0.0
    batch.add(TP0, msgs(TP0, 0))
    clock.now += 5
    batch.add(TP0, msgs(TP0, 1))
    clock.now += 2
    assert batch.age() == pytest.approx(7.0)


def test_by_table_groups_messages_across_partitions_in_offset_order() -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 0))
    batch.add(TP2, msgs(TP2, 0))
    batch.add(TP1, msgs(TP1, 0))
    batch.add(TP0, msgs(TP0, 1))
    tables = batch.by_table()
    assert sorted(tables) == ["clicks", "conversions"]
    assert offsets(tables["conversions"]) == [(0, 0)]
    clicks = offsets(tables["clicks"])
    assert sorted(clicks) == [(0, 0), (0, 1), (1, 0)]
    assert clicks.index((0, 0)) < clicks.index((0, 1))


def test_by_table_puts_clicks_first_whatever_was_fetched_first() -> None:
    batch = Batch()
    batch.add(TP2, msgs(TP2, 3))
    batch.add(TP1, msgs(TP1, 7))
    assert list(batch.by_table()) == ["clicks", "conversions"]


def test_drop_removes_only_that_partitions_messages_and_offsets() -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 0, 1))
    batch.add(TP1, msgs(TP1, 5))
    batch.add(TP2, msgs(TP2, 9))
    batch.drop([TP0])
    assert batch.rows == 2
    assert batch.next_offsets == {TP1: 6, TP2: 10}
    tables = batch.by_table()
    assert (offsets(tables["clicks"]), offsets(tables["conversions"])) == ([(1, 5)], [(0, 9)])


def test_drop_of_an_unknown_partition_is_a_no_op() -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 0))
    batch.drop([TP1, TP2])
    assert batch.rows == 1
    assert batch.next_offsets == {TP0: 1}


def test_drop_of_every_partition_empties_the_batch() -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 0))
    batch.add(TP1, msgs(TP1, 0))
    batch.drop([TP0, TP1])
    assert batch.is_empty()
    assert batch.rows == 0
    assert batch.by_table() == {}


def test_drop_of_every_partition_resets_age(clock: FakeClock) -> None:
    batch = Batch()
    batch.add(TP0, msgs(TP0, 0))
    clock.now += 30
    batch.drop([TP0])
    batch.add(TP1, msgs(TP1, 0))
    assert batch.age() == 0.0


def test_messages_are_kept_as_received() -> None:
    batch = Batch()
    record = Msg(TP2.topic, TP2.partition, 4, key=b"click", value=b"{...}")
    batch.add(TP2, [record])
    assert batch.by_table()["conversions"] == [record]


def test_guard_checks_nothing_without_a_replay() -> None:
    items = msgs(TP0, 0, 1)
    assert ReplayGuard().split("clicks", items) == ([], items)  # type: ignore[arg-type]


def test_guard_checks_offsets_below_the_watched_end_only() -> None:
    guard = ReplayGuard()
    guard.watch(TP0, 2)
    items = msgs(TP0, 0, 1, 2, 3) + msgs(TP1, 0)
    checked, plain = guard.split("clicks", items)  # type: ignore[arg-type]
    assert (offsets(checked), offsets(plain)) == ([(0, 0), (0, 1)], [(0, 2), (0, 3), (1, 0)])
    guard.forget([TP0])
    assert guard.split("clicks", items) == ([], items)  # type: ignore[arg-type]


def test_guard_checks_every_conversion() -> None:
    items = msgs(TP2, 7)
    assert ReplayGuard().split("conversions", items) == (items, [])  # type: ignore[arg-type]
