"""services.sink.tables: topic -> ClickHouse table, message bytes -> row."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas import topics
from schemas.codec import DecodeError, encode
from services.clickhouse.migrate import MIGRATIONS_DIR
from services.sink.tables import TABLES, TableSpec

from . import samples

MESSAGES: dict[str, Any] = {
    topics.RAW_CLICKS.name: samples.click(),
    topics.CONVERSIONS.name: samples.conversion(payout=Decimal("12.345678")),
    topics.POSTBACK_ISSUES.name: samples.issue(),
}


def _row(topic: str) -> dict[str, Any]:
    spec = TABLES[topic]
    row = spec.to_row(encode(MESSAGES[topic]))
    assert len(row) == len(spec.columns)
    return dict(zip(spec.columns, row, strict=True))


def _ddl_columns() -> dict[str, tuple[str, ...]]:
    """Columns of each table in the migrations, minus those filled by a DEFAULT or
    MATERIALIZED expression."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(MIGRATIONS_DIR.glob("*.sql")))
    tables: dict[str, tuple[str, ...]] = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS \{database\}\.(\w+)\s*\((.*?)\n\)",
                                 text, flags=re.S):
        tables[name] = tuple(
            m.group(1) for line in body.splitlines()
            if (m := re.match(r"\s+(\w+)\s+\S", line)) and " DEFAULT " not in line
        )
    # Columns added by later migrations (for new optional message fields) come last.
    for name, column, rest in re.findall(
        r"ALTER TABLE \{database\}\.(\w+)\s+ADD COLUMN IF NOT EXISTS (\w+) ([^;]*);", text
    ):
        if name in tables and not re.search(r"\b(DEFAULT|MATERIALIZED)\b", rest):
            tables[name] += (column,)
    return tables


def test_sinked_topics_are_known_topics() -> None:
    assert set(TABLES) == set(MESSAGES)
    assert set(TABLES) <= {t.name for t in topics.ALL_TOPICS}


@pytest.mark.parametrize("topic", sorted(TABLES))
def test_row_has_one_value_per_column(topic: str) -> None:
    spec = TABLES[topic]
    assert len(spec.to_row(encode(MESSAGES[topic]))) == len(spec.columns)
    assert len(set(spec.columns)) == len(spec.columns)


@pytest.mark.parametrize("topic", sorted(TABLES))
def test_row_values_follow_the_message_fields(topic: str) -> None:
    row, message = _row(topic), MESSAGES[topic]
    for column, value in row.items():
        assert value == getattr(message, column), column


@pytest.mark.parametrize("topic", sorted(TABLES))
def test_columns_match_the_ddl(topic: str) -> None:
    spec: TableSpec = TABLES[topic]
    assert spec.columns == _ddl_columns()[spec.table]


def test_click_row_values() -> None:
    row = _row(topics.RAW_CLICKS.name)
    assert row["click_id"] == samples.CLICK_ID
    assert row["clicked_at"] == samples.CLICKED_AT
    assert isinstance(row["clicked_at"], datetime)
    assert row["params"] == {"traffic_source": "facebook", "campaign": "spring sale", "x": "é&="}
    assert row["query_string"].startswith("traffic_source=facebook")


def test_conversion_row_values() -> None:
    row = _row(topics.CONVERSIONS.name)
    assert row["payout"] == Decimal("12.345678")
    assert isinstance(row["payout"], Decimal)
    assert row["converted_at"] == samples.RECEIVED_AT
    assert row["clicked_at"] == samples.CLICKED_AT


def test_issue_row_values() -> None:
    row = _row(topics.POSTBACK_ISSUES.name)
    assert row["reason"] == "missing_payout"
    assert row["received_at"] == samples.RECEIVED_AT
    assert row["raw"] == samples.issue().raw


@pytest.mark.parametrize("topic", sorted(TABLES))
@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'{"click_id": 1}', b"\xff\xfe", b'{"postback_id": "x"'],
    ids=["empty", "text", "array", "wrong-type", "binary", "truncated"],
)
def test_bad_bytes_raise_decode_error(topic: str, raw: bytes) -> None:
    with pytest.raises(DecodeError):
        TABLES[topic].to_row(raw)


@pytest.mark.parametrize("topic", sorted(TABLES))
def test_decode_error_is_what_the_sink_skips(topic: str) -> None:
    # The sink skips a message when to_row raises ValueError.
    with pytest.raises(ValueError):
        TABLES[topic].to_row(b"{}")
