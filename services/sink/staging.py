"""Message values -> a ClickHouse table, parsed by ClickHouse itself.

The values on the sink's topics are JSON objects whose field names are the table's
columns (`schemas.messages`, `services.sink.tables`), so the sink does not decode them in
Python: a batch of values joined by newlines goes through a staging table (a temporary
Memory table per table, in the writer's session), in two statements:

1. `INSERT INTO staging FORMAT JSONEachRow`: ClickHouse's parser, which runs without the
   interpreter lock. The staging columns have the table's types, except that required
   columns (message fields without a default) are Nullable, so that a missing field reads
   as NULL and step 2 refuses it (a plain insert would fill in the column's default
   without a word); and Decimal columns are String, so money must arrive as a decimal
   string: a JSON number (a float) is refused rather than rounded. JSON numbers, booleans,
   objects and arrays are never read as strings, null is never read as a default, and no
   parse error is tolerated. The rows staged must be as many as the values sent: an empty
   value or one holding two objects would otherwise vanish or split silently.
2. `INSERT INTO table SELECT ... FROM staging`, refusing NULLs. Rows the replay guard must
   check are kept only if their key (the table's ORDER BY key) is not in the table yet,
   and once per key within the batch.

A refusal at either step raises: the writer isolates the refused values. Looser than the
Python decoder in one respect: a timestamp without a zone is read as UTC, not refused.
"""

from __future__ import annotations

import re
from typing import Any

from services.sink.tables import BY_TABLE

# Applied to step 1. Values outside these rules are refused, never guessed at.
JSON_SETTINGS: dict[str, Any] = {
    "input_format_skip_unknown_fields": 1,  # fields of later compatible versions, or unstored
    "date_time_input_format": "best_effort",  # RFC 3339 with Z
    "input_format_allow_errors_num": 0,
    "input_format_allow_errors_ratio": 0,
    "input_format_null_as_default": 0,
    "input_format_json_read_numbers_as_strings": 0,
    "input_format_json_read_bools_as_strings": 0,
    "input_format_json_read_objects_as_strings": 0,
    "input_format_json_read_arrays_as_strings": 0,
}
INSERT_SETTINGS: dict[str, Any] = {"insert_null_as_default": 0}


class RowCountError(ValueError):
    """ClickHouse read a different number of rows than values were sent."""


def staging_name(database: str, table: str) -> str:
    # Per database too: writers of several databases may share one session (tests).
    return f"hopstream_sink_{database}_{table}"


def staging_type(column_type: str, required: bool) -> str:
    match = re.fullmatch(r"LowCardinality\((.*)\)", column_type)
    base = match.group(1) if match else column_type
    if base.startswith("Decimal"):
        base = "String"  # converted by ClickHouse on insert; see the module docstring
    return f"Nullable({base})" if required else base


class Staging:
    """Loads values into the tables of one database. Synchronous: the writer's thread."""

    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self._created: set[str] = set()

    def load(self, table: str, values: list[bytes], check: bool) -> None:
        spec = BY_TABLE[table]
        staging = self._staging(table)
        self.client.command(f"TRUNCATE TABLE {staging}")
        summary = self.client.raw_insert(staging, None, b"\n".join(values),
                                         settings=JSON_SETTINGS, fmt="JSONEachRow")
        if summary.written_rows != len(values):
            raise RowCountError(f"{len(values)} values became {summary.written_rows} rows")
        columns = ", ".join(spec.columns)
        where = ""
        if check:
            key = ", ".join(spec.key_columns)
            where = (f"WHERE NOT (({key}) IN (SELECT {key} FROM {self.database}.{table} "
                     f"WHERE ({key}) IN (SELECT {key} FROM {staging}))) LIMIT 1 BY {key}")
        self.client.command(f"INSERT INTO {self.database}.{table} ({columns}) "
                            f"SELECT {columns} FROM {staging} {where}", settings=INSERT_SETTINGS)

    def forget(self) -> None:
        """After a failure the session (and its temporary tables) may be gone."""
        self._created.clear()

    def _staging(self, table: str) -> str:
        name = staging_name(self.database, table)
        if table not in self._created:
            spec = BY_TABLE[table]
            types = dict(self.client.query(
                "SELECT name, type FROM system.columns WHERE database = %(db)s "
                "AND table = %(table)s", parameters={"db": self.database, "table": table},
            ).result_rows)
            missing = [c for c in spec.columns if c not in types]
            if missing:  # not migrated (yet): a server-side problem, retried
                raise RuntimeError(f"{self.database}.{table} lacks columns {missing}")
            columns = ", ".join(f"{c} {staging_type(types[c], c in spec.required)}"
                                for c in spec.columns)
            self.client.command(f"DROP TEMPORARY TABLE IF EXISTS {name}")
            self.client.command(f"CREATE TEMPORARY TABLE {name} ({columns}) ENGINE = Memory")
            self._created.add(table)
        return name
