"""services.sink.batch: rows per partition, the offsets they cover, dropping on revoke."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

import services.sink.batch as batch_module
from services.sink.batch import Batch

TP0 = TopicPartition("hopstream.clicks.raw", 0)
TP1 = TopicPartition("hopstream.clicks.raw", 1)
TP2 = TopicPartition("hopstream.conversions", 0)


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


def test_add_counts_the_row_and_covers_its_offset() -> None:
    batch = Batch()
    batch.add(TP0, 41, "clicks", ["c1"])
    assert not batch.is_empty()
    assert batch.rows == 1
    assert batch.next_offsets == {TP0: 42}
    assert batch.by_table() == {"clicks": [["c1"]]}


def test_next_offset_is_last_offset_plus_one() -> None:
    batch = Batch()
    for offset in (10, 11, 15):
        batch.add(TP0, offset, "clicks", [offset])
    batch.add(TP1, 3, "clicks", [3])
    assert batch.next_offsets == {TP0: 16, TP1: 4}
    assert batch.rows == 4


def test_reject_covers_the_offset_without_a_row() -> None:
    batch = Batch()
    batch.reject(TP0, 7, "bad")
    assert not batch.is_empty()
    assert batch.rows == 0
    assert batch.next_offsets == {TP0: 8}
    assert batch.by_table() == {}


def test_reject_after_add_advances_the_offset() -> None:
    batch = Batch()
    batch.add(TP0, 7, "clicks", ["c"])
    batch.reject(TP0, 8, "bad")
    assert batch.next_offsets == {TP0: 9}
    assert batch.rows == 1


def test_age_counts_from_the_first_message(clock: FakeClock) -> None:
    batch = Batch()
    assert batch.age() == 0.0
    batch.add(TP0, 0, "clicks", ["a"])
    clock.now += 5
    batch.add(TP0, 1, "clicks", ["b"])
    clock.now += 2
    assert batch.age() == pytest.approx(7.0)


def test_reject_starts_the_clock(clock: FakeClock) -> None:
    batch = Batch()
    batch.reject(TP0, 0, "bad")
    clock.now += 3
    assert batch.age() == pytest.approx(3.0)


def test_by_table_groups_rows_across_partitions_in_offset_order() -> None:
    batch = Batch()
    batch.add(TP0, 0, "clicks", ["a0"])
    batch.add(TP2, 0, "conversions", ["v0"])
    batch.add(TP1, 0, "clicks", ["b0"])
    batch.add(TP0, 1, "clicks", ["a1"])
    tables = batch.by_table()
    assert sorted(tables) == ["clicks", "conversions"]
    assert tables["conversions"] == [["v0"]]
    clicks = tables["clicks"]
    assert sorted(map(tuple, clicks)) == [("a0",), ("a1",), ("b0",)]
    assert clicks.index(["a0"]) < clicks.index(["a1"])


def test_drop_removes_only_that_partitions_rows_and_offsets() -> None:
    batch = Batch()
    batch.add(TP0, 0, "clicks", ["a0"])
    batch.add(TP0, 1, "clicks", ["a1"])
    batch.add(TP1, 5, "clicks", ["b5"])
    batch.add(TP2, 9, "conversions", ["v9"])
    batch.drop([TP0])
    assert batch.rows == 2
    assert batch.next_offsets == {TP1: 6, TP2: 10}
    assert batch.by_table() == {"clicks": [["b5"]], "conversions": [["v9"]]}


def test_drop_of_a_rejected_only_partition_removes_its_offset() -> None:
    batch = Batch()
    batch.reject(TP0, 3, "bad")
    batch.add(TP1, 0, "clicks", ["b0"])
    batch.drop([TP0])
    assert batch.next_offsets == {TP1: 1}
    assert batch.rows == 1


def test_drop_of_an_unknown_partition_is_a_no_op() -> None:
    batch = Batch()
    batch.add(TP0, 0, "clicks", ["a0"])
    batch.drop([TP1, TP2])
    assert batch.rows == 1
    assert batch.next_offsets == {TP0: 1}


def test_drop_of_every_partition_empties_the_batch() -> None:
    batch = Batch()
    batch.add(TP0, 0, "clicks", ["a0"])
    batch.reject(TP1, 0, "bad")
    batch.drop([TP0, TP1])
    assert batch.is_empty()
    assert batch.rows == 0
    assert batch.by_table() == {}


def test_drop_of_every_partition_resets_age(clock: FakeClock) -> None:
    batch = Batch()
    batch.add(TP0, 0, "clicks", ["a0"])
    clock.now += 30
    batch.drop([TP0])
    batch.add(TP1, 0, "clicks", ["b0"])
    assert batch.age() == 0.0


def test_rejects_are_kept_with_their_message_and_error() -> None:
    batch = Batch()
    batch.add(TP0, 0, "clicks", ["a0"])
    batch.reject(TP0, 1, "not json", key=b"k", value=b"{", table="clicks")
    batch.add(TP0, 2, "clicks", ["a2"])
    assert batch.rows == 2
    assert batch.by_table() == {"clicks": [["a0"], ["a2"]]}
    [reject] = batch.rejects()
    assert (reject.offset, reject.key, reject.value, reject.error) == (1, b"k", b"{", "not json")
    batch.drop([TP0])
    assert batch.rejects() == []
    assert batch.rows == 0


def test_items_keep_the_message_they_came_from() -> None:
    batch = Batch()
    batch.add(TP2, 4, "conversions", ["v4"], key=b"click", value=b"{...}")
    [item] = batch.items_by_table()["conversions"]
    assert (item.tp, item.offset, item.key, item.value, item.row) == (
        TP2, 4, b"click", b"{...}", ["v4"])
