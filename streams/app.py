"""The Faust application: configuration only. The wiring lives in `streams.agents`.

Processing guarantee is at-least-once (Faust's exactly-once has known duplicate bugs):
everything downstream is idempotent on postback_id instead. Keys and values are raw bytes
here; the message contracts are decoded by `schemas.codec`, the one place that knows them.
"""

from __future__ import annotations

from typing import Any

from hopstream.settings import Settings
from streams import agents, rocksdb_options
from streams.batch_consumer import BatchApp
from streams.offers_view import OffersView

APP_ID = "hopstream-worker"


def broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{server.strip()}" for server in settings.bootstrap_servers.split(",")]


def create_app(settings: Settings, app_id: str = APP_ID) -> tuple[Any, OffersView]:
    """The app and its offers view. `app_id` names the consumer group and the changelog
    topics; only the benchmark passes another one (to run again over the same topics)."""
    settings.worker_dir.mkdir(parents=True, exist_ok=True)
    # Faust's app, with a consumer that hands the worker's topics to `streams.dispatch` in
    # fetched batches instead of through an agent's stream (`streams.batch_consumer`).
    app = BatchApp(
        app_id,
        broker=broker_urls(settings),
        store=rocksdb_options.STORE_URL,
        datadir=str(settings.worker_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # The worker's changelog records and outputs go as one closed batch per partition
        # and fetched batch (`streams.produce`), which does not linger; the linger is
        # for Faust's own sends (ticks). The batch size bounds both.
        producer_linger=0.05,
        producer_max_batch_size=256 * 1024,
        # Bounded read-ahead: unbounded, each poll decoded every record fetched (1 MB per
        # partition, 24 partitions: ~70,000 records, ~50 MB of Python objects at once).
        broker_max_poll_records=1000,
        consumer_max_fetch_size=256 * 1024,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 5, 0.5),
        web_enabled=False,
        autodiscover=False,
    )
    return app, agents.register(app, settings)
