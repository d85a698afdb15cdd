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
   string: a JSON number (a float) is refused rather than rounded (a string outside the
   contract's pattern is refused in step 2). JSON numbers, booleans,
   objects and arrays are never read as strings, null is never read as a default, and no
   parse error is tolerated. The rows staged must be as many as the values sent: an empty
   value or one holding two objects would otherwise vanish or split silently.
2. `INSERT INTO table SELECT ... FROM staging`, refusing NULLs, and money outside the
   contract's decimal pattern (`schemas.codec.DECIMAL_PATTERN`), which ClickHouse's
   conversion would take ("1e3", "12.", ".5", "+5"). Rows the replay guard must
   check are kept only if their key (the table's ORDER BY key) is not in the table yet,
   and once per key within the batch.

A refusal at either step raises: the writer isolates the refused values. Looser than the
Python decoder in one respect: a timestamp without a zone is read as UTC, not refused.
"""

from __future__ import annotations

import re
from typing import Any

from schemas.codec import DECIMAL_PATTERN
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


# ClickHouse's error code for throwIf (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO): the decimal
# check below; the writer counts it among the content errors.
THROW_IF = 395


class RowCountError(ValueError):
    """ClickHouse read a different number of rows than values were sent."""


def staging_name(database: str, table: str) -> str:
    # Per database too: writers of several databases may share one session (tests).
    return f"hopstream_sink_{database}_{table}"


def _base_type(column_type: str) -> str:
    match = re.fullmatch(r"LowCardinality\((.*)\)", column_type)
    return match.group(1) if match else column_type


def is_money(column_type: str) -> bool:
    """A Decimal column: staged as a string, checked against the contract's pattern."""
    return _base_type(column_type).startswith("Decimal")


def staging_type(column_type: str, required: bool) -> str:
    # Money is converted by ClickHouse on insert; see the module docstring.
    base = "String" if is_money(column_type) else _base_type(column_type)
    return f"Nullable({base})" if required else base


class Staging:
    """Loads values into the tables of one database. Synchronous: the writer's thread."""

    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self._created: set[str] = set()
        self._decimals: dict[str, list[str]] = {}  # table -> its Decimal columns

    def load(self, table: str, values: list[bytes], check: bool) -> None:
        spec = BY_TABLE[table]
        staging = self._staging(table)
        self.client.command(f"TRUNCATE TABLE {staging}")
        summary = self.client.raw_insert(staging, None, b"\n".join(values),
                                         settings=JSON_SETTINGS, fmt="JSONEachRow")
        if summary.written_rows != len(values):
            raise RowCountError(f"{len(values)} values became {summary.written_rows} rows")
        columns = ", ".join(spec.columns)
        # The money check first: ClickHouse evaluates AND lazily, and every row is checked,
        # also those the replay guard's condition drops.
        conditions = [_decimal_check(column) for column in self._decimals[table]]
        limit = ""
        if check:
            key = ", ".join(spec.key_columns)
            conditions.append(f"NOT (({key}) IN (SELECT {key} FROM {self.database}.{table} "
                              f"WHERE ({key}) IN (SELECT {key} FROM {staging})))")
            limit = f"LIMIT 1 BY {key}"
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        self.client.command(f"INSERT INTO {self.database}.{table} ({columns}) "
                            f"SELECT {columns} FROM {staging} {where} {limit}",
                            settings=INSERT_SETTINGS)

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
            self._decimals[table] = [c for c in spec.columns if is_money(types[c])]
            self._created.add(table)
        return name


def _decimal_check(column: str) -> str:
    """A condition true for every row whose `column` (a decimal string, or NULL: refused by
    the insert itself) matches the contract's pattern; any other row raises, naming it."""
    message = f"{column}: not a decimal string (the contract's pattern is {DECIMAL_PATTERN})"
    return (f"throwIf(ifNull(NOT match({column}, {_quoted(DECIMAL_PATTERN)}), 0), "
            f"{_quoted(message)}) = 0")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
