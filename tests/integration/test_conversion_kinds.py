"""Conversions count credits only (migration 0004), on the real engine (chdb).

A conversion row's kind (credit, kpi, reversal) is derived in ClickHouse from the rule the
worker writes; conversions and CR count credits, conversions_by_event and payout every row.
Rows go in through the sink's own insert path (services.sink.staging), so the materialized
views see what they see in production. The migration is checked on tables filled under
0003, including after a crash after each of its statements.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, test_utils

from hopstream.settings import Settings
from schemas.codec import encode
from schemas.messages import Click, Conversion, PayoutRule
from services.clickhouse.client import make_client
from services.clickhouse.migrate import applied, discover, migrate
from services.clickhouse.query_api import create_query_app
from services.dashboard.clickhouse import ClickHouseReader
from services.dashboard.stats import Stats
from services.sink.staging import Staging
from simulator.expect import kind
from streams.rules import describe
from tests.integration.sinking import conversion

pytestmark = pytest.mark.clickhouse

KIND_MIGRATION = 4


def load(client: Any, db: str, table: str, messages: list[Any]) -> None:
    """As the sink writes a batch: JSON values through the staging table, guarded."""
    Staging(client, db).load(table, [encode(m) for m in messages], check=True)


def clicks(offer: str, n: int, at: datetime) -> list[Click]:
    return [Click(click_id=uuid.uuid4().hex, offer_id=offer, clicked_at=at,
                  traffic_source="fb", campaign="spring", creative="c7") for _ in range(n)]


def priced(rule: PayoutRule, payout: str, offer: str, at: datetime | None = None) -> Conversion:
    times = {"converted_at": at, "clicked_at": at} if at else {}
    event = rule.event if rule.event != "*" else "purchase"
    return conversion(payout, offer, event=event, rule=describe(rule), **times)


@pytest.fixture
def fresh_db(ch_client: Any) -> Iterator[str]:
    """A database of its own (totals of other tests' rows stay out), dropped after."""
    name = f"hs_kind_{uuid.uuid4().hex[:10]}"
    yield name
    ch_client.command(f"DROP DATABASE IF EXISTS {name}")


# --- the kind -----------------------------------------------------------------------------

RULES = [
    PayoutRule(event="purchase", payout="postback"),
    PayoutRule(event="upsell", payout="50%", recurrent=True),
    PayoutRule(event="rebill", payout="10.00", recurrent=True),
    PayoutRule(event="order_form_impression", payout="kpi"),
    PayoutRule(event="lead", payout="kpi", recurrent=True),
    PayoutRule(event="refund", payout="reverse"),
    PayoutRule(event="chargeback", payout="reverse", recurrent=True),
    PayoutRule(event="*", payout="0"),
]


def test_kind_is_derived_from_the_rule_as_the_worker_describes_it(
    ch_client: Any, test_database: str
) -> None:
    offer = f"k{uuid.uuid4().hex[:12]}"
    payouts = {"kpi": "0", "reverse": "-12.50"}
    rows = [priced(rule, payouts.get(rule.payout, "12.50"), offer) for rule in RULES]
    # Rows written before 0003 have no rule: a negative payout is still a reversal.
    legacy = [conversion("-3.00", offer, event="refund"), conversion("3.00", offer)]
    load(ch_client, test_database, "conversions", rows + legacy)
    kinds = dict(ch_client.query(
        f"SELECT postback_id, kind FROM {test_database}.conversions FINAL "
        "WHERE offer_id = %(o)s", parameters={"o": offer}).result_rows)
    # The simulator's expectation (simulator.expect.kind) agrees with ClickHouse.
    assert {r.rule: kinds[r.postback_id] for r in rows} == {
        describe(rule): kind(rule) for rule in RULES}
    assert [kinds[c.postback_id] for c in legacy] == ["reversal", "credit"]
    assert {kind(rule) for rule in RULES} == {"credit", "kpi", "reversal"}


def test_the_kind_cannot_be_written(ch_client: Any, test_database: str) -> None:
    with pytest.raises(Exception, match="MATERIALIZED"):
        ch_client.command(
            f"INSERT INTO {test_database}.conversions (postback_id, offer_id, rule, kind) "
            "VALUES ('x', 'x', 'refund: reverse', 'credit')")


# --- offer_stats ---------------------------------------------------------------------------


def offer_totals(client: Any, db: str, offer: str) -> dict[str, Any]:
    row = client.query(
        f"SELECT sum(clicks), sum(conversions), sum(kpi_events), sum(reversals), "
        f"sumMap(conversions_by_event), sum(payout), sum(conversions) / sum(clicks) "
        f"FROM {db}.offer_stats WHERE offer_id = %(o)s", parameters={"o": offer}).result_rows[0]
    names = ("clicks", "conversions", "kpi_events", "reversals", "by_event", "payout", "cr")
    return dict(zip(names, row, strict=True))


def test_kpi_events_and_refunds_change_payout_and_events_not_conversions(
    ch_client: Any, test_database: str
) -> None:
    db, offer = test_database, f"k{uuid.uuid4().hex[:12]}"
    load(ch_client, db, "clicks", clicks(offer, 4, datetime.now(UTC)))
    load(ch_client, db, "conversions", [
        priced(PayoutRule(event="purchase", payout="postback"), "40.00", offer)])
    assert offer_totals(ch_client, db, offer) == {
        "clicks": 4, "conversions": 1, "kpi_events": 0, "reversals": 0,
        "by_event": {"purchase": 1}, "payout": Decimal("40.00"), "cr": 0.25}

    load(ch_client, db, "conversions", [
        priced(PayoutRule(event="order_form_impression", payout="kpi"), "0", offer)])
    assert offer_totals(ch_client, db, offer) == {
        "clicks": 4, "conversions": 1, "kpi_events": 1, "reversals": 0,
        "by_event": {"purchase": 1, "order_form_impression": 1},
        "payout": Decimal("40.00"), "cr": 0.25}

    load(ch_client, db, "conversions", [
        priced(PayoutRule(event="refund", payout="reverse"), "-40.00", offer)])
    assert offer_totals(ch_client, db, offer) == {
        "clicks": 4, "conversions": 1, "kpi_events": 1, "reversals": 1,
        "by_event": {"purchase": 1, "order_form_impression": 1, "refund": 1},
        "payout": Decimal("0"), "cr": 0.25}
    # The same from the base tables, read exactly.
    base = ch_client.query(
        f"SELECT countIf(kind = 'credit'), countIf(kind = 'kpi'), countIf(kind = 'reversal'), "
        f"sum(payout) FROM {db}.conversions FINAL WHERE offer_id = %(o)s",
        parameters={"o": offer}).result_rows[0]
    assert base == (1, 1, 1, Decimal(0))


# --- the migration on data written under 0003 ------------------------------------------------

H0, H1, H2 = (datetime(2031, 3, 4, h, tzinfo=UTC) for h in (8, 10, 11))


def migrate_to_0003(client: Any, db: str, tmp_path: Path) -> None:
    old = tmp_path / f"migrations-{db}"
    old.mkdir()
    for m in discover():
        if m.version < KIND_MIGRATION:
            shutil.copy(m.path, old / m.path.name)
    migrate(client, db, old)
    assert sorted(applied(client, db)) == [1, 2, 3]


def seed_under_0003(client: Any, db: str) -> None:
    """Hours counted by the old views: every conversion row counted as a conversion."""
    client.command(
        f"INSERT INTO {db}.clicks (click_id, offer_id, clicked_at, traffic_source) VALUES "
        "('c1', 'o', '2031-03-04 10:01:00', 'fb'), ('c2', 'o', '2031-03-04 10:02:00', 'fb'), "
        "('c3', 'o', '2031-03-04 10:03:00', 'fb'), ('c4', 'o', '2031-03-04 11:04:00', 'fb')")
    client.command(
        f"INSERT INTO {db}.conversions (postback_id, click_id, offer_id, event, payout, "
        "converted_at, clicked_at, traffic_source, rule) VALUES "
        "('p1', 'c1', 'o', 'purchase', '30', '2031-03-04 10:10:00', '2031-03-04 10:01:00', "
        "'fb', 'purchase: postback'),"
        "('p2', 'c2', 'o', 'order_form_impression', '0', '2031-03-04 10:11:00', "
        "'2031-03-04 10:02:00', 'fb', 'order_form_impression: kpi'),"
        "('p3', 'c1', 'o', 'upsell', '15', '2031-03-04 10:20:00', '2031-03-04 10:01:00', "
        "'fb', 'upsell: 50%, recurrent'),"
        "('p4', 'c1', 'o', 'refund', '-30', '2031-03-04 11:10:00', '2031-03-04 10:01:00', "
        "'fb', 'refund: reverse'),"
        # Written before 0003: no rule.
        "('p5', 'c4', 'o', 'purchase', '25', '2031-03-04 11:20:00', '2031-03-04 11:04:00', "
        "'fb', ''),"
        "('p6', 'c4', 'o', 'chargeback', '-25', '2031-03-04 11:30:00', '2031-03-04 11:04:00', "
        "'fb', '')")
    # An hour whose clicks and conversions expired from the base tables (TTL): only its
    # hourly totals remain, as the old views wrote them.
    client.command(
        f"INSERT INTO {db}.offer_stats_hourly (hour, offer_id, traffic_source, campaign, "
        "creative, clicks, conversions, conversions_by_event, payout) VALUES "
        "('2031-03-04 08:00:00', 'o', 'fb', '', '', 7, 0, map(), 0), "
        "('2031-03-04 08:00:00', 'o', 'fb', '', '', 0, 2, map('purchase', 1, 'refund', 1), 5)")


def hours(client: Any, db: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(
        f"SELECT hour, clicks, conversions, kpi_events, reversals, conversions_by_event, "
        f"payout FROM {db}.offer_stats WHERE offer_id = 'o' ORDER BY hour").result_rows]


REBUILT = [
    # Kept as they were: nothing left to recount (conversions still every row there).
    (H0.replace(tzinfo=None), 7, 2, 0, 0, {"purchase": 1, "refund": 1}, Decimal(5)),
    # purchase and upsell are credits; the impression a kpi event.
    (H1.replace(tzinfo=None), 3, 2, 1, 0,
     {"order_form_impression": 1, "purchase": 1, "upsell": 1}, Decimal(45)),
    # refund (rule `reverse`) and the rule-less chargeback (negative) are reversals.
    (H2.replace(tzinfo=None), 1, 1, 0, 2, {"chargeback": 1, "purchase": 1, "refund": 1},
     Decimal(-30)),
]


def test_migration_rebuilds_historic_hours(ch_client: Any, fresh_db: str,
                                           tmp_path: Path) -> None:
    db = fresh_db
    migrate_to_0003(ch_client, db, tmp_path)
    seed_under_0003(ch_client, db)
    before = ch_client.query(
        f"SELECT hour, sum(conversions) FROM {db}.offer_stats_hourly GROUP BY hour "
        "ORDER BY hour").result_rows
    assert [n for _, n in before] == [2, 3, 3]  # every row counted

    assert [m.version for m in migrate(ch_client, db)] == [KIND_MIGRATION]
    assert hours(ch_client, db) == REBUILT
    tables = {r[0] for r in ch_client.query(
        f"SELECT name FROM system.tables WHERE database = '{db}'").result_rows}
    assert "offer_stats_hourly_0004" not in tables
    assert {"offer_stats_hourly_clicks", "offer_stats_hourly_conversions"} <= tables

    # The recreated views write to the rebuilt table: a click, a kpi event, a credit.
    load(ch_client, db, "clicks", clicks("o", 1, H1 + timedelta(minutes=30)))
    load(ch_client, db, "conversions", [
        priced(PayoutRule(event="order_form_impression", payout="kpi"), "0", "o", H1),
        priced(PayoutRule(event="purchase", payout="postback"), "10", "o", H1)])
    row = ch_client.query(
        f"SELECT sum(clicks), sum(conversions), sum(kpi_events), sum(payout) "
        f"FROM {db}.offer_stats WHERE offer_id = 'o' AND hour = %(h)s",
        parameters={"h": H1}).result_rows[0]
    assert row == (4, 3, 2, Decimal(55))


def test_migration_interrupted_after_any_statement_reaches_the_same_tables(
    ch_client: Any, fresh_db: str, tmp_path: Path
) -> None:
    kind_migration = next(m for m in discover() if m.version == KIND_MIGRATION)
    count = len(kind_migration.statements(fresh_db))
    # Stopped after statement k (k = count: all ran, the record was not written); the next
    # start applies the whole file again.
    for k in range(1, count + 1):
        db = f"{fresh_db}_{k}"
        try:
            migrate_to_0003(ch_client, db, tmp_path)
            seed_under_0003(ch_client, db)
            for statement in kind_migration.statements(db)[:k]:
                ch_client.command(statement)
            assert [m.version for m in migrate(ch_client, db)] == [KIND_MIGRATION]
            assert hours(ch_client, db) == REBUILT, f"interrupted after statement {k}"
        finally:
            ch_client.command(f"DROP DATABASE IF EXISTS {db}")


# --- the dashboard -------------------------------------------------------------------------


@pytest.fixture
async def reader(base_settings: Settings) -> AsyncIterator[ClickHouseReader]:
    """The dashboard's reader over the sink's read-only query interface, on the real engine."""
    client = make_client(base_settings)
    app = create_query_app(client, max_result_rows=10_000)
    try:
        async with test_utils.TestServer(app) as server, ClientSession() as session:
            yield ClickHouseReader(session, server.make_url("/"), None)
    finally:
        client.close()


async def test_dashboard_counts_credits_and_nets_payout(
    ch_client: Any, fresh_db: str, reader: ClickHouseReader
) -> None:
    db, offer = fresh_db, "glucoguard"
    migrate(ch_client, db)
    now = datetime.now(UTC)
    load(ch_client, db, "clicks", clicks(offer, 4, now))
    load(ch_client, db, "conversions", [
        priced(PayoutRule(event="purchase", payout="postback"), "40.00", offer, now),
        priced(PayoutRule(event="upsell", payout="50%", recurrent=True), "20.00", offer, now),
        priced(PayoutRule(event="order_form_impression", payout="kpi"), "0", offer, now),
        priced(PayoutRule(event="refund", payout="reverse"), "-20.00", offer, now),
    ])
    snapshot = await Stats(reader, db).snapshot(now - timedelta(minutes=5))
    totals = snapshot["totals"]
    assert (totals["clicks"], totals["conversions"], totals["kpi_events"],
            totals["reversals"]) == (4, 2, 1, 1)
    assert Decimal(totals["payout"]) == Decimal("40")
    assert (totals["cr"], totals["epc"]) == ("0.500000", "10.000000")
    assert sum(snapshot["series"]["conversions"]) == 2
    assert sum(snapshot["series"]["clicks"]) == 4
    [top] = snapshot["top"]["offer"]
    assert (top["key"], top["conversions"], top["cr"], Decimal(top["payout"])) == (
        offer, 2, "0.500000", Decimal(40))
    assert {(e["event"], e["kind"], e["count"], Decimal(e["payout"]))
            for e in snapshot["events"]} == {
        ("purchase", "credit", 1, Decimal(40)), ("upsell", "credit", 1, Decimal(20)),
        ("order_form_impression", "kpi", 1, Decimal(0)),
        ("refund", "reversal", 1, Decimal(-20))}
    # offer_stats, which Grafana reads, says the same.
    assert offer_totals(ch_client, db, offer)["conversions"] == totals["conversions"]
