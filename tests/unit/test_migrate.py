"""services.clickhouse.migrate: discovering and reading numbered migration files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.clickhouse.migrate import MIGRATIONS_DIR, Migration, MigrationError, discover


def _write(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text("SELECT 1;\n", encoding="utf-8")


def test_shipped_migrations_have_unique_increasing_numbers() -> None:
    versions = [m.version for m in discover()]
    assert versions
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_shipped_migrations_live_in_schemas_clickhouse() -> None:
    migrations = discover()
    assert all(m.path.parent == MIGRATIONS_DIR for m in migrations)
    assert MIGRATIONS_DIR.name == "clickhouse"
    assert MIGRATIONS_DIR.parent.name == "schemas"


# Migrations that rebuild a table: their other statements are repeatable as part of the
# whole file, which tests/integration/test_conversion_kinds.py interrupts after each one.
REBUILDS = {4}
REBUILD_STATEMENTS = ("INSERT INTO ", "EXCHANGE TABLES ")


def test_shipped_statements_are_idempotent_and_substituted() -> None:
    for migration in discover():
        for statement in migration.statements("hs_test"):
            assert "{database}" not in statement
            assert "hs_test." in statement
            if any(guard in statement for guard in ("IF NOT EXISTS", "IF EXISTS", "OR REPLACE")):
                continue
            assert migration.version in REBUILDS, statement[:80]
            assert statement.startswith(REBUILD_STATEMENTS), statement[:80]


def test_discover_orders_by_number(tmp_path: Path) -> None:
    _write(tmp_path, "0010_later.sql", "0002_second.sql", "0001_first.sql")
    assert [(m.version, m.name) for m in discover(tmp_path)] == [
        (1, "first"), (2, "second"), (10, "later")]


def test_discover_ignores_other_files(tmp_path: Path) -> None:
    _write(tmp_path, "0001_first.sql", "README.md", "0002_draft.sql.bak")
    assert [m.name for m in discover(tmp_path)] == ["first"]


def test_empty_directory_has_no_migrations(tmp_path: Path) -> None:
    assert discover(tmp_path) == []


def test_duplicate_number_names_both_files(tmp_path: Path) -> None:
    _write(tmp_path, "0001_initial.sql", "0001_other.sql")
    with pytest.raises(MigrationError) as info:
        discover(tmp_path)
    assert "0001_initial.sql" in str(info.value)
    assert "0001_other.sql" in str(info.value)


@pytest.mark.parametrize(
    "name", ["1_initial.sql", "0001-initial.sql", "0001_Initial.sql", "initial.sql",
             "00001_initial.sql", "0001_.sql"]
)
def test_badly_named_file_raises(tmp_path: Path, name: str) -> None:
    _write(tmp_path, "0001_ok.sql", name)
    with pytest.raises(MigrationError, match=re.escape(name)):
        discover(tmp_path)


def _migration(tmp_path: Path, text: str) -> Migration:
    path = tmp_path / "0001_test.sql"
    path.write_text(text, encoding="utf-8")
    return Migration(1, "test", path)


def test_statements_are_split_and_stripped(tmp_path: Path) -> None:
    migration = _migration(
        tmp_path,
        "CREATE TABLE IF NOT EXISTS {database}.a (x String) ENGINE = Memory;\n\n"
        "  CREATE TABLE IF NOT EXISTS {database}.b\n(\n    y UInt8\n)\nENGINE = Memory ;\n\n",
    )
    assert migration.statements("hs") == [
        "CREATE TABLE IF NOT EXISTS hs.a (x String) ENGINE = Memory",
        "CREATE TABLE IF NOT EXISTS hs.b\n(\n    y UInt8\n)\nENGINE = Memory",
    ]


def test_comment_lines_are_dropped(tmp_path: Path) -> None:
    migration = _migration(
        tmp_path,
        "-- header; with a semicolon\n"
        "SELECT 1;\n"
        "   -- indented comment\n"
        "SELECT 2\n"
        "-- trailing comment;\n",
    )
    assert migration.statements("hs") == ["SELECT 1", "SELECT 2"]


def test_comment_only_file_has_no_statements(tmp_path: Path) -> None:
    assert _migration(tmp_path, "-- nothing yet\n\n").statements("hs") == []


def test_every_database_placeholder_is_substituted(tmp_path: Path) -> None:
    migration = _migration(tmp_path, "ALTER TABLE {database}.a ADD COLUMN z String "
                           "DEFAULT dictGet('{database}.d', 'v', 1)")
    assert migration.statements("prod") == [
        "ALTER TABLE prod.a ADD COLUMN z String DEFAULT dictGet('prod.d', 'v', 1)"]


def test_semicolon_in_trailing_comment_does_not_split(tmp_path: Path) -> None:
    migration = _migration(
        tmp_path,
        "CREATE TABLE IF NOT EXISTS {database}.a\n"
        "(\n    x String -- was Int32; see 0003\n)\nENGINE = Memory;\n",
    )
    assert len(migration.statements("hs")) == 1
