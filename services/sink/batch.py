"""A batch of messages on their way to ClickHouse, and the offsets it covers.

Messages are kept per Kafka partition so that a partition taken away by a rebalance can be
dropped from the batch without touching the others: its messages were not committed, so
its next owner reads them again. They are kept as the consumer returned them (one list
extension per fetch, no work per message): their values are already JSON objects whose
fields are the table's columns, which ClickHouse parses itself (`services.sink.staging`),
and a message ClickHouse refuses is dead-lettered exactly as received.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import TopicPartition

from services.sink.tables import TABLES

WRITE_ORDER = tuple(spec.table for spec in TABLES.values())  # clicks, conversions, issues


class Item(Protocol):
    """One message of the batch: what the sink reads of aiokafka's ConsumerRecord."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass
class Batch:
    # partition -> its messages in offset order
    entries: dict[TopicPartition, list[Item]] = field(default_factory=lambda: defaultdict(list))
    # partition -> the next offset to read, i.e. what to commit once the rows are written
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    rows: int = 0
    started: float | None = None

    def add(self, tp: TopicPartition, messages: Sequence[Item]) -> None:
        """Messages of one partition, in offset order, following those already added."""
        if not messages:
            return
        if self.started is None:
            self.started = time.monotonic()
        self.entries[tp].extend(messages)
        self.next_offsets[tp] = messages[-1].offset + 1
        self.rows += len(messages)

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

    def by_table(self) -> dict[str, list[Item]]:
        """Messages per table, each partition's in offset order; tables in the order they
        are written: clicks first, whatever partition was fetched first. A conversion is
        decided after its click was published, so its click is in the same batch or an
        earlier one (unless a fetch returned the conversion first), and within a batch the
        click lands first."""
        tables: dict[str, list[Item]] = defaultdict(list)
        for tp, items in self.entries.items():
            tables[TABLES[tp.topic].table].extend(items)
        return {table: tables[table] for table in WRITE_ORDER if table in tables}
