"""What the dashboard shows, read from ClickHouse: one snapshot of a time range.

Exact reads: the base tables with FINAL (the sink delivers at least once; FINAL collapses
a replayed row), each row counted in the minute of its own time (clicks by `clicked_at`,
conversions by `converted_at`, issues by `received_at`), as `offer_stats` does by hour.
Each conversion row has a kind (`conversions.kind`, derived in ClickHouse from its payout
rule: migration 0004): `credit`, `kpi` (an analytics event paying 0, such as an order form
impression) or `reversal` (a refund or chargeback, negative payout). Conversions count
credits only, as in `offer_stats`, so CR = conversions / clicks is a conversion rate (a
refund does not raise it); payout is net (every row: kpi events add 0, reversals
subtract), and so is EPC = payout / clicks. Both are sums divided over the range, never
averages of averages. The events table lists every row by event and kind, with the kpi
events and reversals also counted in the totals.

Money stays Decimal and leaves as a decimal string; the per-minute payout series is also
sent as numbers, for the chart only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.dashboard.clickhouse import ClickHouseReader

RATIO_PLACES = Decimal("0.000001")
TOP_N = 10
# Dimensions of the "top" tables -> their column (a fixed list: never a caller's text).
DIMENSIONS = {"offer": "offer_id", "traffic_source": "traffic_source", "campaign": "campaign"}
FROM = "{from:DateTime64(3, 'UTC')}"
# What counts as a conversion (CR's numerator): credits, not kpi events nor reversals.
CREDITS = "countIf(kind = 'credit')"


def ratio(numerator: Decimal | int, clicks: int) -> str | None:
    if clicks == 0:
        return None
    return str((Decimal(numerator) / clicks).quantize(RATIO_PLACES))


class Stats:
    def __init__(self, reader: ClickHouseReader, database: str) -> None:
        self.reader = reader
        self.db = database

    async def snapshot(self, since: datetime) -> dict[str, Any]:
        params = {"from": since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
        clicks, minutes, tops, events, issues = await asyncio.gather(
            self._clicks(params), self._minutes(params),
            asyncio.gather(*(self._top(dim, params) for dim in DIMENSIONS)),
            self._events(params), self._issues(params))
        by_kind = {kind: sum(e["count"] for e in events if e["kind"] == kind)
                   for kind in ("credit", "kpi", "reversal")}
        conversions = by_kind["credit"]
        payout = sum((Decimal(e["payout"]) for e in events), Decimal(0))
        return {
            "from": since.isoformat(), "to": datetime.now(UTC).isoformat(),
            "totals": {"clicks": clicks, "conversions": conversions, "payout": str(payout),
                       "cr": ratio(conversions, clicks), "epc": ratio(payout, clicks),
                       "kpi_events": by_kind["kpi"], "reversals": by_kind["reversal"],
                       "issues": sum(i["count"] for i in issues)},
            "series": _series(since, minutes),
            "top": dict(zip(DIMENSIONS, tops, strict=True)),
            "events": events,
            "issues": issues,
        }

    async def _clicks(self, params: dict[str, str]) -> int:
        rows = await self.reader.rows(
            f"SELECT count() AS n FROM {self.db}.clicks FINAL WHERE clicked_at >= {FROM}", params)
        return int(rows[0]["n"])

    async def _minutes(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return await self.reader.rows(
            f"SELECT toUnixTimestamp(minute) AS t, sum(c) AS clicks, sum(n) AS conversions, "
            f"sum(p) AS payout FROM ("
            f" SELECT toStartOfMinute(clicked_at) AS minute, count() AS c, 0 AS n, "
            f"  toDecimal128(0, 6) AS p FROM {self.db}.clicks FINAL "
            f"  WHERE clicked_at >= {FROM} GROUP BY minute"
            f" UNION ALL SELECT toStartOfMinute(converted_at), 0, {CREDITS}, sum(payout) "
            f"  FROM {self.db}.conversions FINAL WHERE converted_at >= {FROM} GROUP BY 1"
            f") GROUP BY minute ORDER BY minute", params)

    async def _top(self, dimension: str, params: dict[str, str]) -> list[dict[str, Any]]:
        column = DIMENSIONS[dimension]
        rows = await self.reader.rows(
            f"SELECT key, sum(c) AS clicks, sum(n) AS conversions, sum(p) AS payout FROM ("
            f" SELECT {column} AS key, count() AS c, 0 AS n, toDecimal128(0, 6) AS p"
            f"  FROM {self.db}.clicks FINAL WHERE clicked_at >= {FROM} GROUP BY key"
            f" UNION ALL SELECT {column}, 0, {CREDITS}, sum(payout)"
            f"  FROM {self.db}.conversions FINAL WHERE converted_at >= {FROM} GROUP BY 1"
            f") GROUP BY key ORDER BY payout DESC, clicks DESC, key LIMIT {TOP_N}", params)
        return [{"key": r["key"], "clicks": int(r["clicks"]),
                 "conversions": int(r["conversions"]), "payout": str(Decimal(r["payout"])),
                 "cr": ratio(int(r["conversions"]), int(r["clicks"])),
                 "epc": ratio(Decimal(r["payout"]), int(r["clicks"]))} for r in rows]

    async def _events(self, params: dict[str, str]) -> list[dict[str, Any]]:
        rows = await self.reader.rows(
            f"SELECT event, kind, count() AS n, sum(payout) AS payout FROM {self.db}.conversions "
            f"FINAL WHERE converted_at >= {FROM} GROUP BY event, kind "
            f"ORDER BY n DESC, event, kind", params)
        return [{"event": r["event"], "kind": r["kind"], "count": int(r["n"]),
                 "payout": str(Decimal(r["payout"]))} for r in rows]

    async def _issues(self, params: dict[str, str]) -> list[dict[str, Any]]:
        rows = await self.reader.rows(
            f"SELECT reason, count() AS n FROM {self.db}.postback_issues FINAL "
            f"WHERE received_at >= {FROM} GROUP BY reason ORDER BY n DESC, reason", params)
        return [{"reason": r["reason"], "count": int(r["n"])} for r in rows]


def _series(since: datetime, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """One point per minute from `since` to now, zeros where nothing happened."""
    by_minute = {int(r["t"]): r for r in rows}
    start = int(since.replace(second=0, microsecond=0).timestamp())
    end = int(datetime.now(UTC).timestamp()) // 60 * 60
    if by_minute:
        end = max(end, max(by_minute))
    minutes = list(range(start, end + 60, 60))
    return {
        "t": minutes,
        "clicks": [int(by_minute[m]["clicks"]) if m in by_minute else 0 for m in minutes],
        "conversions": [int(by_minute[m]["conversions"]) if m in by_minute else 0
                        for m in minutes],
        "payout": [float(by_minute[m]["payout"]) if m in by_minute else 0.0 for m in minutes],
    }


def default_since(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)
