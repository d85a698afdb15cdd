"""A batch of rows on its way to ClickHouse, and the offsets it covers.

Rows are kept per Kafka partition so that a partition taken away by a rebalance can be
dropped from the batch without touching the others: its rows were not committed, so its
next owner reads them again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition


@dataclass
class Batch:
    # partition -> [(table, row)] in offset order
    entries: dict[TopicPartition, list[tuple[str, list[Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # partition -> the next offset to read, i.e. what to commit once the rows are written
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    rows: int = 0
    started: float | None = None

    def add(self, tp: TopicPartition, offset: int, table: str, row: list[Any]) -> None:
        if self.started is None:
            self.started = time.monotonic()
        self.entries[tp].append((table, row))
        self.next_offsets[tp] = offset + 1
        self.rows += 1

    def skip(self, tp: TopicPartition, offset: int) -> None:
        """Advance past a message that produced no row (so the commit covers it)."""
        if self.started is None:
            self.started = time.monotonic()
        self.next_offsets[tp] = offset + 1

    def age(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def is_empty(self) -> bool:
        return not self.next_offsets

    def drop(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.rows -= len(self.entries.pop(tp, []))
            self.next_offsets.pop(tp, None)
        if not self.next_offsets:
            self.started = None

    def by_table(self) -> dict[str, list[list[Any]]]:
        tables: dict[str, list[list[Any]]] = defaultdict(list)
        for rows in self.entries.values():
            for table, row in rows:
                tables[table].append(row)
        return dict(tables)
