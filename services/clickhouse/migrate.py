"""Numbered, idempotent ClickHouse migrations from `schemas/clickhouse/NNNN_name.sql`.

Applied at start by the process that owns ClickHouse writes (the sink) and by
`hopstream migrate`. Each file is applied once, in number order, and recorded in
`<database>.schema_migrations`; its statements are also written to be repeated (IF NOT
EXISTS, IF EXISTS, OR REPLACE), so a crash between a statement and the record only repeats
harmless work. A file that rebuilds a table (0004) is repeatable as a whole: it fills a
scratch table, swaps it in (EXCHANGE TABLES) and drops the scratch table, so after a crash
anywhere in it the next run starts over and reaches the same state. A file is applied
before the sink consumes (services/sink/run.py), so nothing writes meanwhile. `{database}`
in a file is replaced by the configured database name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import schemas

MIGRATIONS_DIR = Path(schemas.__file__).resolve().with_name("clickhouse")
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def statements(self, database: str) -> list[str]:
        """Statements of the file. A statement ends with a line ending in `;`, so a `;`
        inside a comment or a string literal mid-line does not split it; whole-line `--`
        comments are dropped."""
        text = self.path.read_text(encoding="utf-8").replace("{database}", database)
        statements: list[str] = []
        current: list[str] = []
        for line in text.splitlines():
            if line.strip().startswith("--"):
                continue
            current.append(line)
            if line.rstrip().endswith(";"):
                statements.append("\n".join(current).strip().removesuffix(";").strip())
                current = []
        if "\n".join(current).strip():
            statements.append("\n".join(current).strip())
        return [s for s in statements if s]


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"migration number {version} is used twice: {found[version].path.name} "
                f"and {path.name}"
            )
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def applied(client: Any, database: str) -> dict[int, datetime]:
    _ensure_bookkeeping(client, database)
    rows = client.query(
        f"SELECT version, max(applied_at) FROM {database}.schema_migrations GROUP BY version"
    ).result_rows
    return {int(v): at for v, at in rows}


def migrate(client: Any, database: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every migration not applied yet; return those applied now."""
    done = applied(client, database)
    newly: list[Migration] = []
    for migration in discover(directory):
        if migration.version in done:
            continue
        for statement in migration.statements(database):
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, datetime.now(UTC)]],
            column_names=["version", "name", "applied_at"],
        )
        newly.append(migration)
    return newly


def status(client: Any, database: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """One line per known migration: applied (with when) or pending."""
    done = applied(client, database)
    lines = []
    for migration in discover(directory):
        when = done.get(migration.version)
        state = f"applied {when:%Y-%m-%d %H:%M:%S}" if when else "pending"
        lines.append(f"{migration.version:04d} {migration.name:<30} {state}")
    return lines


def _ensure_bookkeeping(client: Any, database: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
