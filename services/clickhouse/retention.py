"""Retention: table TTLs from the settings, applied by the sink at start and by
`hopstream migrate`.

TTLs are settings rather than DDL so that operators change them without a migration. A
TTL is altered only when it differs from what the table has: `MODIFY TTL` rewrites every
existing part (ClickHouse materializes it), which is not work to repeat at every start.
0 days keeps a table's rows forever (REMOVE TTL).
"""

from __future__ import annotations

import re
from typing import Any

from hopstream.settings import Settings

# table -> (time column the TTL counts from, setting holding the days)
RETENTION: dict[str, tuple[str, str]] = {
    "clicks": ("clicked_at", "clicks_ttl_days"),
    "conversions": ("converted_at", "conversions_ttl_days"),
    "postback_issues": ("received_at", "postback_issues_ttl_days"),
    "sink_rejects": ("rejected_at", "postback_issues_ttl_days"),
    "offer_stats_hourly": ("hour", "offer_stats_ttl_days"),
}

_TTL_CLAUSE = re.compile(r"\bTTL (.+?)(?: SETTINGS |$)")


def ttl_expression(column: str, days: int) -> str | None:
    """The TTL as ClickHouse prints it back in SHOW CREATE; None for no TTL."""
    return f"toDateTime({column}) + toIntervalDay({days})" if days > 0 else None


def current_ttl(client: Any, database: str, table: str) -> str | None:
    rows = client.query(
        "SELECT create_table_query FROM system.tables WHERE database = %(db)s AND name = %(t)s",
        parameters={"db": database, "t": table},
    ).result_rows
    if not rows:
        raise LookupError(f"{database}.{table} does not exist: run the migrations first")
    match = _TTL_CLAUSE.search(rows[0][0])
    return match.group(1).strip() if match else None


def apply_retention(client: Any, settings: Settings) -> list[str]:
    """Bring every table's TTL in line with the settings; return what changed."""
    database = settings.clickhouse_database
    changed: list[str] = []
    for table, (column, setting) in RETENTION.items():
        days: int = getattr(settings, setting)
        wanted = ttl_expression(column, days)
        if current_ttl(client, database, table) == wanted:
            continue
        if wanted is None:
            client.command(f"ALTER TABLE {database}.{table} REMOVE TTL")
            changed.append(f"{table}: kept forever")
        else:
            client.command(f"ALTER TABLE {database}.{table} MODIFY TTL {wanted}")
            changed.append(f"{table}: {days} days")
    return changed
