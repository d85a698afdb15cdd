"""Inserting a batch into ClickHouse: one insert per table, off the event loop.

clickhouse-connect is synchronous (and the only client chdb accepts), so inserts run in a
dedicated single thread: writes stay in order and the event loop keeps polling Kafka.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.sink.tables import TABLES

COLUMNS = {spec.table: spec.columns for spec in TABLES.values()}


class Writer:
    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-insert")

    async def write(self, rows_by_table: dict[str, list[list[Any]]]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._write_sync, rows_by_table)

    def _write_sync(self, rows_by_table: dict[str, list[list[Any]]]) -> None:
        for table, rows in rows_by_table.items():
            if rows:
                self.client.insert(
                    f"{self.database}.{table}", rows, column_names=list(COLUMNS[table])
                )

    def close(self) -> None:
        self._thread.shutdown(wait=True)
