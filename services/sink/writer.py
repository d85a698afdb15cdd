"""Inserting a batch into ClickHouse: one insert per table, off the event loop.

clickhouse-connect is synchronous (and the only client chdb accepts), so inserts run in a
dedicated single thread: writes stay in order and the event loop keeps polling Kafka.
Each table has one insert context, reused for every batch (Native format; the column
types are read once).

Errors come in two kinds. A row ClickHouse refuses for its content (a constraint, a value
out of range for its column) fails the same way however often it is retried: the failing
insert is split in halves until the refused rows are alone, the others are inserted, in
order, and the refused ones are returned for the dead-letter path. Anything else
(ClickHouse down, too many parts, a timeout) is raised: the sink retries the whole batch
with backoff, and the replay guard skips what already landed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError, DataError

from schemas.messages import SinkReject
from services.sink.batch import Item
from services.sink.replay import unwritten
from services.sink.tables import BY_TABLE

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that blame the data, not the server:
# CANNOT_PARSE_TEXT, CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_DATE,
# CANNOT_PARSE_DATETIME, TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE,
# CANNOT_PARSE_NUMBER, TOO_LARGE_STRING_SIZE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
# DECIMAL_OVERFLOW, VIOLATED_CONSTRAINT, CANNOT_PARSE_UUID.
CONTENT_ERROR_CODES = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 131, 321, 407, 469, 376})

REJECT_COLUMNS = ("source_topic", "source_partition", "source_offset", "key", "value", "stage",
                  "error", "rejected_at")


def is_content_error(exc: BaseException) -> bool:
    """True when retrying cannot help: the rows themselves are refused."""
    if isinstance(exc, DataError):  # clickhouse-connect could not encode a value
        return True
    return isinstance(exc, DatabaseError) and getattr(exc, "code", None) in CONTENT_ERROR_CODES


class Writer:
    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self._contexts: dict[str, Any] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-insert")

    async def write(
        self, items_by_table: dict[str, list[Item]], must_check: Callable[[Item], bool]
    ) -> list[tuple[Item, str]]:
        """Insert every item not already in ClickHouse; return the refused ones with the
        error. Raises when ClickHouse could not be written at all."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._write_sync, items_by_table,
                                          must_check)

    async def write_rejects(self, rejects: Sequence[SinkReject]) -> None:
        rows = [[r.source_topic, r.source_partition, r.source_offset, r.key, r.value, r.stage,
                 r.error, r.rejected_at] for r in rejects]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._insert, "sink_rejects", rows)

    def _write_sync(
        self, items_by_table: dict[str, list[Item]], must_check: Callable[[Item], bool]
    ) -> list[tuple[Item, str]]:
        refused: list[tuple[Item, str]] = []
        for table, items in items_by_table.items():
            spec = BY_TABLE[table]
            items = unwritten(self.client, self.database, spec, items, map(must_check, items))
            if items:
                self._insert_isolating(table, items, refused)
        return refused

    def _insert_isolating(self, table: str, items: list[Item],
                          refused: list[tuple[Item, str]]) -> None:
        try:
            self._insert(table, [item.row for item in items])
        except Exception as exc:
            if not is_content_error(exc):
                raise
            if len(items) == 1:
                refused.append((items[0], str(exc)))
                return
            # Halves in order: what is inserted stays a prefix of each partition's rows.
            middle = len(items) // 2
            self._insert_isolating(table, items[:middle], refused)
            self._insert_isolating(table, items[middle:], refused)

    def _insert(self, table: str, rows: list[Any]) -> None:
        if not rows:
            return
        context = self._contexts.get(table)
        if context is None:
            columns = BY_TABLE[table].columns if table in BY_TABLE else REJECT_COLUMNS
            context = self.client.create_insert_context(
                f"{self.database}.{table}", column_names=list(columns)
            )
            self._contexts[table] = context
        context.data = rows
        try:
            self.client.insert(context=context)
        finally:
            context.data = None

    def close(self) -> None:
        self._thread.shutdown(wait=True)
