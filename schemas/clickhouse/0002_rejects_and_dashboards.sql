-- Dead letters, and the tables dashboards read.

-- ReplacingMergeTree keeps one row per ORDER BY key, so rows with an empty id would
-- collapse into one: ClickHouse refuses them instead, and the sink dead-letters them.
-- The payout bound is a sanity check far above any single ClickBank commission.
ALTER TABLE {database}.clicks ADD CONSTRAINT IF NOT EXISTS click_id_set CHECK click_id != '';
ALTER TABLE {database}.conversions ADD CONSTRAINT IF NOT EXISTS postback_id_set CHECK postback_id != '';
ALTER TABLE {database}.conversions ADD CONSTRAINT IF NOT EXISTS payout_in_range CHECK abs(payout) <= 1000000;
ALTER TABLE {database}.postback_issues ADD CONSTRAINT IF NOT EXISTS postback_id_set CHECK postback_id != '';

-- Messages the sink could not turn into a row (stage decode) or ClickHouse refused (stage
-- insert), with the error; the same records go to the hopstream.sink-rejects topic. A
-- replayed reject collapses on its source position. Not partitioned: rejects are few, and
-- a replay must land in the same partition to collapse.
CREATE TABLE IF NOT EXISTS {database}.sink_rejects
(
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    key              String,
    value            String,
    stage            LowCardinality(String),
    error            String,
    rejected_at      DateTime64(3, 'UTC'),
    inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (source_topic, source_partition, source_offset);

-- Hourly totals per offer and traffic dimensions, kept by the two materialized views
-- below as rows are inserted. Partial rows of one key are summed by merges and by the
-- offer_stats view; read through the view (or GROUP BY), never row by row. Conversions
-- count in the hour they were received (converted_at), as money reports do.
-- They stay exact because the sink inserts every row once (see services/sink/replay.py).
CREATE TABLE IF NOT EXISTS {database}.offer_stats_hourly
(
    hour                 DateTime('UTC'),
    offer_id             LowCardinality(String),
    traffic_source       LowCardinality(String),
    campaign             String,
    creative             String,
    clicks               SimpleAggregateFunction(sum, UInt64),
    conversions          SimpleAggregateFunction(sum, UInt64),
    conversions_by_event SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    payout               SimpleAggregateFunction(sum, Decimal(38, 6))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, offer_id, traffic_source, campaign, creative);

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
    count() AS conversions,
    sumMap(map(event, toUInt64(1))) AS conversions_by_event,
    sum(payout) AS payout
FROM {database}.conversions
GROUP BY hour, offer_id, traffic_source, campaign, creative;

-- What dashboards query: totals per hour and dimensions, with CR (conversions / clicks)
-- and EPC (payout / clicks; NULL without clicks). Over a longer range, sum clicks,
-- conversions and payout and divide, rather than averaging cr or epc.
CREATE VIEW IF NOT EXISTS {database}.offer_stats
AS SELECT
    hour, offer_id, traffic_source, campaign, creative,
    sum(h.clicks) AS clicks,
    sum(h.conversions) AS conversions,
    sumMap(h.conversions_by_event) AS conversions_by_event,
    sum(h.payout) AS payout,
    sum(h.conversions) / nullIf(sum(h.clicks), 0) AS cr,
    sum(h.payout) / nullIf(sum(h.clicks), 0) AS epc
FROM {database}.offer_stats_hourly AS h
GROUP BY hour, offer_id, traffic_source, campaign, creative;
