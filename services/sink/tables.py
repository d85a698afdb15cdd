"""Which topic goes to which ClickHouse table, and what a row of each must hold.

The one place that knows both the message contracts and the table columns; the DDL lives
in `schemas/clickhouse/`. Column lists here name every column the sink writes, in order.

`key_columns` is the table's ORDER BY key, i.e. what ReplacingMergeTree collapses on and
what the replay guard (`services.sink.replay`) looks rows up by. `required` are the
columns whose message field has no default: ClickHouse would fill a missing one with the
column's default, so the sink refuses the message instead (`services.sink.staging`).
`always_verify` tables are looked up on every batch, not only after a replay: conversions
carry money, are few, and the worker upstream may emit one twice (at-least-once), which
would otherwise count twice in offer_stats_hourly. `to_row` is the contract's decoder:
the sink runs it only on messages ClickHouse refused, to say what is wrong with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas import topics
from schemas.codec import decode
from schemas.messages import Click, Conversion, PostbackIssue


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[str, ...]
    to_row: Callable[[bytes], list[Any]]
    key_columns: tuple[str, str]
    required: tuple[str, ...] = ()
    always_verify: bool = False


def _required(message: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(message)
                 if f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING)


def _click_row(raw: bytes) -> list[Any]:
    c = decode(Click, raw)
    return [c.click_id, c.offer_id, c.clicked_at, c.traffic_source, c.campaign, c.creative,
            c.ip, c.user_agent, c.referer, c.params, c.query_string]


def _conversion_row(raw: bytes) -> list[Any]:
    c = decode(Conversion, raw)
    return [c.postback_id, c.click_id, c.offer_id, c.event, c.receipt, c.payout, c.currency,
            c.converted_at, c.clicked_at, c.traffic_source, c.campaign, c.creative, c.rule]


def _issue_row(raw: bytes) -> list[Any]:
    i = decode(PostbackIssue, raw)
    return [i.postback_id, i.reason, i.detail, i.click_id, i.offer_id, i.event, i.receipt,
            i.received_at, i.raw]


# In the order a batch is written (services.sink.batch): clicks before the conversions and
# issues decided from them.
TABLES: dict[str, TableSpec] = {
    topics.RAW_CLICKS.name: TableSpec(
        "clicks",
        ("click_id", "offer_id", "clicked_at", "traffic_source", "campaign", "creative", "ip",
         "user_agent", "referer", "params", "query_string"),
        _click_row,
        key_columns=("offer_id", "click_id"),
        required=_required(Click),
    ),
    topics.CONVERSIONS.name: TableSpec(
        "conversions",
        ("postback_id", "click_id", "offer_id", "event", "receipt", "payout", "currency",
         "converted_at", "clicked_at", "traffic_source", "campaign", "creative", "rule"),
        _conversion_row,
        key_columns=("offer_id", "postback_id"),
        required=_required(Conversion),
        always_verify=True,
    ),
    topics.POSTBACK_ISSUES.name: TableSpec(
        "postback_issues",
        ("postback_id", "reason", "detail", "click_id", "offer_id", "event", "receipt",
         "received_at", "raw"),
        _issue_row,
        key_columns=("reason", "postback_id"),
        required=_required(PostbackIssue),
    ),
}

BY_TABLE: dict[str, TableSpec] = {spec.table: spec for spec in TABLES.values()}
