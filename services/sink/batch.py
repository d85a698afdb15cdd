"""A batch of rows on its way to ClickHouse, and the offsets it covers.

Rows are kept per Kafka partition so that a partition taken away by a rebalance can be
dropped from the batch without touching the others: its rows were not committed, so its
next owner reads them again. Each row keeps the message it came from, so a row ClickHouse
refuses can be dead-lettered as received; a message that could not become a row at all is
kept as a reject (`row` None) for the same reason.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition


@dataclass(slots=True)
class Item:
    """One message of the batch: the row it became (None if it could not become one)."""

    tp: TopicPartition
    offset: int
    table: str
    row: list[Any] | None
    key: bytes | None = None
    value: bytes = b""
    error: str = ""


@dataclass
class Batch:
    # partition -> its items in offset order
    entries: dict[TopicPartition, list[Item]] = field(default_factory=lambda: defaultdict(list))
    # partition -> the next offset to read, i.e. what to commit once the rows are written
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    rows: int = 0
    started: float | None = None

    def add(self, tp: TopicPartition, offset: int, table: str, row: list[Any],
            key: bytes | None = None, value: bytes = b"") -> None:
        self._cover(tp, offset)
        self.entries[tp].append(Item(tp, offset, table, row, key, value))
        self.rows += 1

    def reject(self, tp: TopicPartition, offset: int, error: str, key: bytes | None = None,
               value: bytes = b"", table: str = "") -> None:
        """A message that produced no row: covered by the commit, dead-lettered on flush."""
        self._cover(tp, offset)
        self.entries[tp].append(Item(tp, offset, table, None, key, value, error))

    def _cover(self, tp: TopicPartition, offset: int) -> None:
        if self.started is None:
            self.started = time.monotonic()
        self.next_offsets[tp] = offset + 1

    def age(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def is_empty(self) -> bool:
        return not self.next_offsets

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.rows -= sum(1 for item in self.entries.pop(tp, []) if item.row is not None)
            self.next_offsets.pop(tp, None)
        if not self.next_offsets:
            self.started = None

    def items_by_table(self) -> dict[str, list[Item]]:
        """Items that became rows, per table, each partition's in offset order."""
        tables: dict[str, list[Item]] = defaultdict(list)
        for items in self.entries.values():
            for item in items:
                if item.row is not None:
                    tables[item.table].append(item)
        return dict(tables)

    def by_table(self) -> dict[str, list[list[Any]]]:
        return {table: [i.row for i in items if i.row is not None]
                for table, items in self.items_by_table().items()}

    def rejects(self) -> list[Item]:
        return [item for items in self.entries.values() for item in items if item.row is None]
