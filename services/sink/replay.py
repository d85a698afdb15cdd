"""The replay guard: inserting every row once, so that materialized views stay exact.

ReplacingMergeTree collapses a replayed row in the base tables (reads with FINAL are
exact whatever happens), but a materialized view sees every insert: a row inserted twice
counts twice in offer_stats_hourly forever. So the sink does not insert a row that may
already be in ClickHouse without looking first. A row may already be there when:

* its partition was just assigned to this sink: the previous owner may have inserted rows
  it never committed (a crash between insert and commit, a commit refused during a
  rebalance). Such rows existed before the assignment, so every offset below the
  partition's end offset at assignment time is checked, nothing after it;
* a write of this sink failed: the insert may have landed before the error (a lost
  answer, a failure in a view), so every row of that batch is checked on the retry;
* its table is `always_verify` (conversions): the message itself may be a duplicate from
  upstream.

Checking happens inside ClickHouse, on the writer's thread: the rows to check are staged,
and only those whose key (the table's ORDER BY key) is neither in the table nor earlier in
the batch are inserted (`services.sink.staging`). Measured on chdb: a repeated
`insert_deduplication_token` is dropped from the base table only with
`non_replicated_deduplication_window` set, and even then the materialized views receive
the block again; and a token would only match a byte-identical batch, which a batch
rebuilt after a restart is not. Hence the lookup.

What it does not cover: a sink that lost its group membership without noticing (a
zombie) and keeps inserting; a view that failed after its base table took the insert
(that row is then missing from the view, never counted twice).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import TopicPartition

from services.sink.batch import Item
from services.sink.tables import BY_TABLE


class ReplayGuard:
    """Which rows must be checked before they are inserted."""

    def __init__(self) -> None:
        # partition -> offsets below this one may already be in ClickHouse
        self.until: dict[TopicPartition, int] = {}

    def watch(self, tp: TopicPartition, until: int) -> None:
        self.until[tp] = max(until, self.until.get(tp, 0))

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.until.pop(tp, None)

    def split(self, table: str, items: list[Item]) -> tuple[list[Item], list[Item]]:
        """(items to check, items to insert as they are). Within each partition the first
        list holds lower offsets than the second, so inserting it first keeps the order."""
        if BY_TABLE[table].always_verify:
            return items, []
        if not self.until:
            return [], items
        until = {(tp.topic, tp.partition): offset for tp, offset in self.until.items()}
        checked: list[Item] = []
        plain: list[Item] = []
        for item in items:
            if item.offset < until.get((item.topic, item.partition), 0):
                checked.append(item)
            else:
                plain.append(item)
        return checked, plain
