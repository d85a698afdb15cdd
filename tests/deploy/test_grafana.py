"""Grafana provisioning (deploy/grafana/): the datasource, and every dashboard query run
against the embedded ClickHouse engine with the real schema (the migrations), with the
macros expanded as Grafana would, on rows whose totals are known."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from hopstream.settings import Settings
from tests.deploy import compose
from tests.deploy.grafana_macros import ALL, Context, expand

GRAFANA = compose.ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "hopstream.json"
DATASOURCE = GRAFANA / "provisioning" / "datasources" / "clickhouse.yaml"
GRANTS = compose.ROOT / "deploy" / "clickhouse" / "users.d" / "grafana.xml"

# Far from any time other tests write at, so the window holds only this module's rows.
START = datetime(2099, 1, 1, 9, tzinfo=UTC)
END = datetime(2099, 1, 1, 12, 59, 59, tzinfo=UTC)
SUFFIX = uuid.uuid4().hex[:8]
OFFER_A, OFFER_B = f"dash_a_{SUFFIX}", f"dash_b_{SUFFIX}"


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(DASHBOARD.read_bytes())
    return loaded


def datasource() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]
    return loaded


def targets() -> list[tuple[str, str]]:
    return [(p["title"], t["rawSql"]) for p in dashboard()["panels"] for t in p["targets"]]


# --- provisioning, without an engine ------------------------------------------------------


def test_datasource_is_the_clickhouse_plugin_with_a_read_only_user() -> None:
    ds = datasource()
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["username"] == "grafana"
    assert ds["jsonData"]["host"] == "clickhouse"
    # The password is interpolated from Grafana's environment, never written here.
    assert ds["secureJsonData"]["password"] == "$GRAFANA_CLICKHOUSE_PASSWORD"
    grafana_env = compose.environment(compose.services()["grafana"])
    assert "GRAFANA_CLICKHOUSE_PASSWORD" in grafana_env


def test_datasource_database_and_grant_match_the_database_hopstream_writes() -> None:
    databases = {
        Settings.from_env(compose.environment(s)).clickhouse_database
        for s in compose.hopstream_services().values()
    }
    assert databases == {datasource()["jsonData"]["defaultDatabase"]}
    assert f"GRANT SELECT ON {databases.pop()}.*" in GRANTS.read_text()


def test_every_panel_and_variable_uses_the_provisioned_datasource() -> None:
    uid = datasource()["uid"]
    board = dashboard()
    used = [p["datasource"]["uid"] for p in board["panels"]]
    used += [t["datasource"]["uid"] for p in board["panels"] for t in p["targets"]]
    used += [v["datasource"]["uid"] for v in board["templating"]["list"]]
    assert set(used) == {uid}


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    titles = {p["title"] for p in dashboard()["panels"]}
    assert {"Traffic", "Conversions", "Payout", "CR", "EPC", "Postback issues by reason"} <= titles
    sql = " ".join(s for _, s in targets())
    assert "offer_stats_hourly" in sql and "postback_issues" in sql


def test_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


# --- queries against the real schema ----------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(ch_client: Any, base_settings: Settings) -> Iterator[Any]:
    """Rows with known totals, inserted through the base tables (the materialized views fill
    offer_stats_hourly as they do in production); a client whose default database is the
    test database, as the datasource's defaultDatabase is in Grafana."""
    from services.clickhouse.client import make_client

    db = base_settings.clickhouse_database
    ch_client.command(
        f"INSERT INTO {db}.clicks (click_id, offer_id, clicked_at, traffic_source, campaign, "
        "creative, ip, user_agent, referer, params, query_string) VALUES "
        + ",".join(
            f"('{offer}_{n}', '{offer}', '{at}', '{source}', 'c1', '', '', '', '', {{}}, '')"
            for offer, at, source, count in (
                (OFFER_A, "2099-01-01 10:05:00", "fb", 4),
                (OFFER_B, "2099-01-01 11:10:00", "google", 2),
            )
            for n in range(count)
        )
    )
    ch_client.command(
        f"INSERT INTO {db}.conversions (postback_id, click_id, offer_id, event, receipt, payout, "
        "currency, converted_at, clicked_at, traffic_source, campaign, creative) VALUES "
        f"('pa1_{SUFFIX}', '{OFFER_A}_0', '{OFFER_A}', 'purchase', 'P3RGBKGB', '37.45', 'USD', "
        "'2099-01-01 10:30:00', '2099-01-01 10:05:00', 'fb', 'c1', ''),"
        f"('pa2_{SUFFIX}', '{OFFER_A}_0', '{OFFER_A}', 'upsell', 'Q1RGBKGB', '12.55', 'USD', "
        "'2099-01-01 11:20:00', '2099-01-01 10:05:00', 'fb', 'c1', ''),"
        f"('pb1_{SUFFIX}', '{OFFER_B}_0', '{OFFER_B}', 'purchase', 'R2RGBKGB', '0.10', 'USD', "
        "'2099-01-01 11:40:00', '2099-01-01 11:10:00', 'google', 'c1', '')"
    )
    # Rows that are not conversions: a kpi event (payout 0) and a refund of the upsell. They
    # count by event and in payout (net), never in conversions or CR.
    ch_client.command(
        f"INSERT INTO {db}.conversions (postback_id, click_id, offer_id, event, receipt, payout, "
        "currency, converted_at, clicked_at, traffic_source, campaign, creative, rule) VALUES "
        f"('pa3_{SUFFIX}', '{OFFER_A}_1', '{OFFER_A}', 'order_form_impression', '', '0', "
        "'USD', '2099-01-01 10:45:00', '2099-01-01 10:05:00', 'fb', 'c1', '', "
        "'order_form_impression: kpi'),"
        f"('pa4_{SUFFIX}', '{OFFER_A}_0', '{OFFER_A}', 'refund', 'Q1RGBKGB', '-12.55', 'USD', "
        "'2099-01-01 11:50:00', '2099-01-01 10:05:00', 'fb', 'c1', '', 'refund: reverse')"
    )
    ch_client.command(
        f"INSERT INTO {db}.postback_issues (postback_id, reason, detail, click_id, offer_id, "
        "event, receipt, received_at, raw) VALUES "
        f"('ia1_{SUFFIX}', 'missing_payout', 'no payout', '{OFFER_A}_1', '{OFFER_A}', "
        "'purchase', '', '2099-01-01 10:40:00', ''),"
        f"('ia2_{SUFFIX}', 'missing_payout', 'no payout', '{OFFER_A}_2', '{OFFER_A}', "
        "'purchase', '', '2099-01-01 10:41:00', ''),"
        f"('ix1_{SUFFIX}', 'invalid', 'click_id is missing', '', '', '', '', "
        "'2099-01-01 10:50:00', '')"
    )
    client = make_client(base_settings, database=db)
    yield client
    client.close()


def run(client: Any, sql: str, offers: list[str], interval_s: int = 3600) -> list[tuple[Any, ...]]:
    ctx = Context(START, END, interval_s, {"offer": offers})
    rows: list[tuple[Any, ...]] = client.query(expand(sql, ctx)).result_rows
    return rows


def panel_sql(title: str) -> str:
    return next(sql for t, sql in targets() if t == title)


@pytest.mark.clickhouse
@pytest.mark.parametrize("offers", [[ALL], ["x"]], ids=["all-offers", "one-offer"])
@pytest.mark.parametrize(("title", "sql"), targets(), ids=[t for t, _ in targets()])
def test_every_dashboard_query_runs_on_the_real_schema(
    seeded: Any, title: str, sql: str, offers: list[str]
) -> None:
    run(seeded, sql, offers)  # raises with ClickHouse's error if the query is broken


@pytest.mark.clickhouse
def test_offer_variable_lists_the_offers_with_traffic_in_the_range(seeded: Any) -> None:
    variable = dashboard()["templating"]["list"][0]
    assert run(seeded, variable["query"], [ALL]) == [(OFFER_A,), (OFFER_B,)]


@pytest.mark.clickhouse
def test_stats_are_the_exact_totals(seeded: Any) -> None:
    def stat(title: str, offers: list[str]) -> Any:
        return run(seeded, panel_sql(title), offers)[0][0]

    assert stat("Clicks", [ALL]) == 6
    # Credits only: the kpi event and the refund are not conversions...
    assert stat("Conversions", [ALL]) == 3
    assert stat("CR", [ALL]) == pytest.approx(0.5)
    # ...but the refund's negative payout counts.
    assert stat("Payout", [ALL]) == Decimal("37.55")
    assert stat("EPC", [ALL]) == Decimal("6.258333")
    assert stat("Postback issues", [ALL]) == 3
    assert stat("Sink rejects", [ALL]) == 0
    # One offer selected: only its rows.
    assert stat("Clicks", [OFFER_A]) == 4
    assert stat("Conversions", [OFFER_A]) == 2
    assert stat("CR", [OFFER_A]) == pytest.approx(0.5)
    assert stat("Payout", [OFFER_A]) == Decimal("37.45")
    assert stat("EPC", [OFFER_A]) == Decimal("9.3625")
    assert stat("Postback issues", [OFFER_A]) == 2


@pytest.mark.clickhouse
def test_series_are_bucketed_by_the_interval(seeded: Any) -> None:
    traffic = run(seeded, panel_sql("Traffic"), [ALL])
    assert [(t.hour, n) for t, n in traffic] == [(10, 4), (11, 2)]
    events = run(seeded, panel_sql("Conversions by event"), [ALL])
    assert sorted((t.hour, e, n) for t, e, n in events) == [
        (10, "order_form_impression", 1), (10, "purchase", 1),
        (11, "purchase", 1), (11, "refund", 1), (11, "upsell", 1)]
    issues = run(seeded, panel_sql("Postback issues by reason"), [ALL])
    assert sorted((t.hour, r, n) for t, r, n in issues) == [
        (10, "invalid", 1), (10, "missing_payout", 2)]


@pytest.mark.clickhouse
def test_offers_table_ranks_by_payout(seeded: Any) -> None:
    rows = run(seeded, panel_sql("Offers"), [ALL])
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (OFFER_A, 4, 2, Decimal("37.45")), (OFFER_B, 2, 1, Decimal("0.10"))]


def test_expander_refuses_what_it_does_not_know() -> None:
    ctx = Context(START, END, 60, {"offer": [ALL]})
    with pytest.raises(ValueError, match="unexpanded"):
        expand("SELECT $__unknownMacro(x)", ctx)
    with pytest.raises(ValueError, match="conditionalAll"):
        expand("SELECT 1 WHERE offer_id IN (${offer:singlequote})", ctx)


def test_dashboard_file_is_where_the_provider_reads() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "hopstream.yaml").read_text())["providers"][0]
    mounts = compose.services()["grafana"]["volumes"]
    host_dir = next(m.split(":")[0] for m in mounts
                    if m.split(":")[1] == provider["options"]["path"])
    assert (compose.ROOT / host_dir).resolve() == DASHBOARD.parent
    assert Path(DASHBOARD).is_file()
