-- Conversions and CR count credits only. Every row of `conversions` is one of:
--   credit    a sale, upsell, rebill, ...: what CR = conversions / clicks counts;
--   kpi       an analytics event paying 0 (order form impressions): not a conversion;
--   reversal  a refund or chargeback (negative payout): not a conversion either (a refund
--             must not raise CR); its payout still subtracts from payout and EPC.
-- conversions_by_event and payout keep counting every row, as before.

-- The kind, from the rule the worker writes (`streams.rules.describe`: "event: payout[,
-- recurrent]"): the payout is the text after the last ": ", up to a ",". `kpi` and
-- `reverse` are kinds of their own; anything else (`postback`, `N%`, a fixed amount) is a
-- credit. Rows written before 0003 carry no rule: a negative payout is a reversal there
-- (only `reverse` pays less than 0), the rest counts as a credit (a kpi event cannot be
-- told from a credit paying 0 without its rule).
--
-- MATERIALIZED, measured on chdb: computed on every insert path the sink and tests use
-- (the sink's `INSERT INTO conversions (columns) SELECT ... FROM staging`, VALUES,
-- JSONEachRow), and the materialized views reading `conversions` see it; rows inserted
-- before this migration compute it when read (FINAL included), so nothing is rewritten.
-- DEFAULT would work as well for the views, but accepts a value from an insert that names
-- the column (a kind disagreeing with the rule) and joins `SELECT *` and column-less
-- inserts (INSERT ... VALUES without a column list then fails). A MATERIALIZED column
-- refuses an insert that names it, so the kind is always the rule's.
ALTER TABLE {database}.conversions ADD COLUMN IF NOT EXISTS kind LowCardinality(String)
MATERIALIZED multiIf(
    splitByChar(',', splitByString(': ', rule)[-1])[1] = 'kpi', 'kpi',
    splitByChar(',', splitByString(': ', rule)[-1])[1] = 'reverse', 'reversal',
    rule = '' AND payout < 0, 'reversal',
    'credit')
AFTER rule;

-- The hourly totals gain the two kinds that are not conversions, so that a dashboard can
-- show them beside conversions (a refund rate: reversals / conversions).
ALTER TABLE {database}.offer_stats_hourly
    ADD COLUMN IF NOT EXISTS kpi_events SimpleAggregateFunction(sum, UInt64) AFTER conversions,
    ADD COLUMN IF NOT EXISTS reversals SimpleAggregateFunction(sum, UInt64) AFTER kpi_events;

-- Historic hours counted every row as a conversion: they are rebuilt. Migrations run
-- before the sink consumes (services/sink/run.py; `migrate` before `sink` in
-- docker-compose.yml), so nothing writes while this runs. Every statement below may be
-- repeated, and the file as a whole too: after a crash anywhere in it, the next start
-- applies it again from the top and reaches the same tables (tests/integration/
-- test_migration_kinds.py interrupts it after each statement).
--
-- 1. The views stop writing to offer_stats_hourly (recreated at the end, the conversions
--    one counting credits; both bound by name to the rebuilt table).
DROP VIEW IF EXISTS {database}.offer_stats_hourly_clicks;
DROP VIEW IF EXISTS {database}.offer_stats_hourly_conversions;

-- 2. The rebuilt totals go to a table of the same definition (engine, order, partitions,
--    TTL), emptied first: one left by an interrupted run holds nothing to keep.
CREATE TABLE IF NOT EXISTS {database}.offer_stats_hourly_0004 AS {database}.offer_stats_hourly;
TRUNCATE TABLE IF EXISTS {database}.offer_stats_hourly_0004;

-- 3. Per hour and dimensions: clicks as offer_stats_hourly holds them (clicks expire from
--    `clicks` by their TTL while their hourly totals are kept: never recounted from the
--    base table). The conversion side from `conversions` FINAL, kinds told apart, when
--    the base table still holds at least as many rows as the totals counted; otherwise
--    (rows expired by a conversions TTL) the totals are kept as they were. Repeating this
--    on its own result changes nothing: the rows counted by event do not change.
INSERT INTO {database}.offer_stats_hourly_0004
    (hour, offer_id, traffic_source, campaign, creative, clicks, conversions, kpi_events,
     reversals, conversions_by_event, payout)
SELECT
    hour, offer_id, traffic_source, campaign, creative, clicks,
    if(rebuilt, base_credits, agg_conversions),
    if(rebuilt, base_kpi, agg_kpi),
    if(rebuilt, base_reversals, agg_reversals),
    if(rebuilt, base_by_event, agg_by_event),
    if(rebuilt, base_payout, agg_payout)
FROM
(
    SELECT
        hour, offer_id, traffic_source, campaign, creative,
        sum(clicks) AS clicks,
        sum(agg_conversions) AS agg_conversions, sum(agg_kpi) AS agg_kpi,
        sum(agg_reversals) AS agg_reversals, sumMap(agg_by_event) AS agg_by_event,
        sum(agg_payout) AS agg_payout,
        sum(base_credits) AS base_credits, sum(base_kpi) AS base_kpi,
        sum(base_reversals) AS base_reversals, sumMap(base_by_event) AS base_by_event,
        sum(base_payout) AS base_payout,
        sum(base_rows) >= sum(agg_rows) AS rebuilt
    FROM
    (
        SELECT
            hour, toString(offer_id) AS offer_id, toString(traffic_source) AS traffic_source,
            campaign, creative, clicks,
            conversions AS agg_conversions, kpi_events AS agg_kpi, reversals AS agg_reversals,
            conversions_by_event AS agg_by_event, toDecimal128(payout, 6) AS agg_payout,
            arraySum(mapValues(conversions_by_event)) AS agg_rows,
            toUInt64(0) AS base_rows, toUInt64(0) AS base_credits, toUInt64(0) AS base_kpi,
            toUInt64(0) AS base_reversals, CAST(map(), 'Map(String, UInt64)') AS base_by_event,
            toDecimal128(0, 6) AS base_payout
        FROM {database}.offer_stats_hourly
        UNION ALL
        SELECT
            toStartOfHour(converted_at), toString(offer_id), toString(traffic_source),
            campaign, creative, toUInt64(0),
            toUInt64(0), toUInt64(0), toUInt64(0), CAST(map(), 'Map(String, UInt64)'),
            toDecimal128(0, 6), toUInt64(0),
            count(), countIf(kind = 'credit'), countIf(kind = 'kpi'),
            countIf(kind = 'reversal'), sumMap(map(toString(event), toUInt64(1))),
            toDecimal128(sum(payout), 6)
        FROM {database}.conversions FINAL
        GROUP BY 1, 2, 3, 4, 5
    )
    GROUP BY hour, offer_id, traffic_source, campaign, creative
);

-- 4. The rebuilt table takes the name, atomically; the old totals are dropped.
EXCHANGE TABLES {database}.offer_stats_hourly AND {database}.offer_stats_hourly_0004;
DROP TABLE IF EXISTS {database}.offer_stats_hourly_0004;

-- 5. The views again: clicks as in 0002; conversions counting credits, kpi events and
--    reversals apart (conversions_by_event and payout: every row, as before).
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.offer_stats_hourly_clicks
TO {database}.offer_stats_hourly
AS SELECT
    toStartOfHour(clicked_at) AS hour,
    offer_id, traffic_source, campaign, creative,
    count() AS clicks
FROM {database}.clicks
GROUP BY hour, offer_id, traffic_source, campaign, creative;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.offer_stats_hourly_conversions
TO {database}.offer_stats_hourly
AS SELECT
    toStartOfHour(converted_at) AS hour,
    offer_id, traffic_source, campaign, creative,
    countIf(kind = 'credit') AS conversions,
    countIf(kind = 'kpi') AS kpi_events,
    countIf(kind = 'reversal') AS reversals,
    sumMap(map(event, toUInt64(1))) AS conversions_by_event,
    sum(payout) AS payout
FROM {database}.conversions
GROUP BY hour, offer_id, traffic_source, campaign, creative;

-- What dashboards query, as in 0002 with the two new totals: conversions are credits, so
-- CR = conversions / clicks is the conversion rate; EPC = payout / clicks (net of
-- reversals). NULL without clicks. Over a longer range, sum and divide.
CREATE OR REPLACE VIEW {database}.offer_stats
AS SELECT
    hour, offer_id, traffic_source, campaign, creative,
    sum(h.clicks) AS clicks,
    sum(h.conversions) AS conversions,
    sum(h.kpi_events) AS kpi_events,
    sum(h.reversals) AS reversals,
    sumMap(h.conversions_by_event) AS conversions_by_event,
    sum(h.payout) AS payout,
    sum(h.conversions) / nullIf(sum(h.clicks), 0) AS cr,
    sum(h.payout) / nullIf(sum(h.clicks), 0) AS epc
FROM {database}.offer_stats_hourly AS h
GROUP BY hour, offer_id, traffic_source, campaign, creative;
