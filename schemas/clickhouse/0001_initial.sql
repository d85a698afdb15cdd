-- Base tables. Every table collapses replayed rows on its id (ReplacingMergeTree): the sink
-- delivers at least once, so reads that must be exact use FINAL.

CREATE TABLE IF NOT EXISTS {database}.clicks
(
    click_id       String,
    offer_id       LowCardinality(String),
    clicked_at     DateTime64(3, 'UTC'),
    traffic_source LowCardinality(String),
    campaign       String,
    creative       String,
    ip             String,
    user_agent     String,
    referer        String,
    params         Map(String, String),
    query_string   String,
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(clicked_at)
ORDER BY (offer_id, click_id);

CREATE TABLE IF NOT EXISTS {database}.conversions
(
    postback_id    String,
    click_id       String,
    offer_id       LowCardinality(String),
    event          LowCardinality(String),
    receipt        String,
    payout         Decimal(18, 6),
    currency       LowCardinality(String),
    converted_at   DateTime64(3, 'UTC'),
    clicked_at     DateTime64(3, 'UTC'),
    traffic_source LowCardinality(String),
    campaign       String,
    creative       String,
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(converted_at)
ORDER BY (offer_id, postback_id);

CREATE TABLE IF NOT EXISTS {database}.postback_issues
(
    postback_id    String,
    reason         LowCardinality(String),
    detail         String,
    click_id       String,
    offer_id       LowCardinality(String),
    event          LowCardinality(String),
    receipt        String,
    received_at    DateTime64(3, 'UTC'),
    raw            String,
    inserted_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (reason, postback_id);
