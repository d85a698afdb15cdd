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

Checking is a lookup of the batch's keys (the table's ORDER BY key) through a temporary
table, on the writer's thread. Measured on chdb: a repeated `insert_deduplication_token`
is dropped from the base table only with `non_replicated_deduplication_window` set, and
even then the materialized views receive the block again; and a token would only match a
byte-identical batch, which a batch rebuilt after a restart is not. Hence the lookup.

What it does not cover: a sink that lost its group membership without noticing (a
zombie) and keeps inserting; a view that failed after its base table took the insert
(that row is then missing from the view, never counted twice).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition

from services.sink.batch import Item
from services.sink.tables import BY_TABLE, TableSpec

LOOKUP_TABLE = "hopstream_sink_lookup"


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

    def must_check(self, item: Item) -> bool:
        return BY_TABLE[item.table].always_verify or item.offset < self.until.get(item.tp, 0)


def unwritten(client: Any, database: str, spec: TableSpec, items: list[Item],
              check: Iterable[bool]) -> list[Item]:
    """`items` minus those (checked) whose key is already in the table or earlier in the
    batch. Synchronous: runs on the writer's thread."""
    flags = list(check)
    keys = {spec.key(item.row) for item, flag in zip(items, flags, strict=True)  # type: ignore[arg-type]
            if flag}
    if not keys:
        return items
    present = _present(client, database, spec, keys)
    kept: list[Item] = []
    for item, flag in zip(items, flags, strict=True):
        if flag:
            key = spec.key(item.row)  # type: ignore[arg-type]
            if key in present:
                continue
            present.add(key)  # a second copy later in this batch is a duplicate too
        kept.append(item)
    return kept


def _present(client: Any, database: str, spec: TableSpec,
             keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    # A temporary table, not an IN list: 50,000 keys as query text take longer to parse
    # than to look up, and as a query parameter far longer still (chdb).
    client.command(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {LOOKUP_TABLE} (k1 String, k2 String) "
        "ENGINE = Memory"
    )
    client.command(f"TRUNCATE TABLE {LOOKUP_TABLE}")
    client.insert(LOOKUP_TABLE, list(keys), column_names=["k1", "k2"])
    first, second = spec.key_columns
    rows = client.query(
        f"SELECT {first}, {second} FROM {database}.{spec.table} "
        f"WHERE ({first}, {second}) IN (SELECT k1, k2 FROM {LOOKUP_TABLE})"
    ).result_rows
    return {(a, b) for a, b in rows}
