"""Inserting a batch into ClickHouse: one insert per table, off the event loop.

clickhouse-connect is synchronous (and the only client chdb accepts), so inserts run in a
dedicated single thread: writes stay in order and the event loop keeps polling Kafka.
Message values go to ClickHouse as they are, parsed there (`services.sink.staging`); the
few dead letters go through a reused Native insert context.

Errors come in two kinds. A row ClickHouse refuses for its content (not valid JSON, a
missing field, a constraint, a value out of range for its column) fails the same way
however often it is retried: the failing insert is split in halves until the refused
rows are alone, the others are inserted, in order, and the refused ones are returned for
the dead-letter path. The halves are inserted with the replay guard's check, so that a
part of a failed insert that did land (a batch of several blocks) is not inserted twice.
Anything else (ClickHouse down, too many parts, a timeout) is raised: the sink retries
the whole batch with backoff, and the replay guard skips what already landed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError, DataError

from schemas.messages import SinkReject
from services.sink.batch import Item
from services.sink.replay import ReplayGuard
from services.sink.staging import THROW_IF, RowCountError, Staging

# ClickHouse error codes (src/Common/ErrorCodes.cpp) that blame the data, not the server:
# CANNOT_PARSE_TEXT, CANNOT_PARSE_INPUT_ASSERTION_FAILED, CANNOT_PARSE_DATE,
# CANNOT_PARSE_DATETIME, TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE,
# CANNOT_PARSE_NUMBER, TOO_LARGE_STRING_SIZE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE,
# DECIMAL_OVERFLOW, VIOLATED_CONSTRAINT, CANNOT_PARSE_UUID; and from parsing JSON:
# CANNOT_PARSE_ESCAPE_SEQUENCE, CANNOT_PARSE_QUOTED_STRING, ATTEMPT_TO_READ_AFTER_EOF,
# CANNOT_READ_ALL_DATA, INCORRECT_DATA, CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN; and the
# staging's money check (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO).
CONTENT_ERROR_CODES = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 131, 321, 407, 469, 376,
                                 25, 26, 32, 33, 117, 349, THROW_IF})

REJECT_COLUMNS = ("source_topic", "source_partition", "source_offset", "key", "value", "stage",
                  "error", "rejected_at")


def is_content_error(exc: BaseException) -> bool:
    """True when retrying cannot help: the rows themselves are refused."""
    if isinstance(exc, (DataError, RowCountError)):
        return True
    return isinstance(exc, DatabaseError) and getattr(exc, "code", None) in CONTENT_ERROR_CODES


def _single_objects(items: list[Item], refused: list[tuple[Item, str]]) -> list[Item]:
    """Items whose value can be one JSONEachRow line; the others are refused at once.

    The row-count check in staging catches a value that ClickHouse reads as zero rows or as
    several, but not both in one insert: an empty value beside a value holding two objects
    would balance out. Values that are empty (a tombstone), hold a newline, or do not look
    like one object are refused here, so every value left reads as at least one row and any
    extra row shows in the count. Three byte checks: no parsing on the hot path.
    """
    kept: list[Item] = []
    for item in items:
        value = item.value
        if not value or value[0] != 0x7B or value[-1] != 0x7D or b"\n" in value:
            refused.append((item, "not a single-line JSON object"))
        else:
            kept.append(item)
    return kept


class Writer:
    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self.staging = Staging(client, database)
        self._rejects_context: Any = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-insert")

    async def write(
        self, items_by_table: dict[str, list[Item]], guard: ReplayGuard
    ) -> list[tuple[Item, str]]:
        """Insert every item not already in ClickHouse; return the refused ones with the
        error. Raises when ClickHouse could not be written at all."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._write_sync, items_by_table,
                                          guard)

    async def write_rejects(self, rejects: Sequence[SinkReject]) -> None:
        rows = [[r.source_topic, r.source_partition, r.source_offset, r.key, r.value, r.stage,
                 r.error, r.rejected_at] for r in rejects]
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._insert_rejects, rows)

    def _write_sync(
        self, items_by_table: dict[str, list[Item]], guard: ReplayGuard
    ) -> list[tuple[Item, str]]:
        refused: list[tuple[Item, str]] = []
        try:
            for table, all_items in items_by_table.items():
                items = _single_objects(all_items, refused)
                checked, plain = guard.split(table, items)
                for part, check in ((checked, True), (plain, False)):
                    if part:
                        self._insert_isolating(table, part, check, refused)
        except Exception:
            self.staging.forget()
            raise
        return refused

    def _insert_isolating(self, table: str, items: list[Item], check: bool,
                          refused: list[tuple[Item, str]]) -> None:
        try:
            self._load(table, items, check)
        except Exception as exc:
            if not is_content_error(exc):
                raise
            if len(items) == 1:
                refused.append((items[0], str(exc)))
                return
            # Halves in order: what is inserted stays a prefix of each partition's rows.
            middle = len(items) // 2
            self._insert_isolating(table, items[:middle], True, refused)
            self._insert_isolating(table, items[middle:], True, refused)

    def _load(self, table: str, items: list[Item], check: bool) -> None:
        self.staging.load(table, [item.value or b"" for item in items], check)

    def _insert_rejects(self, rows: list[Any]) -> None:
        if self._rejects_context is None:
            self._rejects_context = self.client.create_insert_context(
                f"{self.database}.sink_rejects", column_names=list(REJECT_COLUMNS))
        self._rejects_context.data = rows
        try:
            self.client.insert(context=self._rejects_context)
        finally:
            self._rejects_context.data = None

    def close(self) -> None:
        self._thread.shutdown(wait=True)
