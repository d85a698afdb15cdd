"""`hopstream sink`: wiring of the sink process, in one factory.

Order matters: migrations and retention TTLs first (the tables must exist before a batch
is written), then the read-only query interface when the ClickHouse engine is in-process
(only this process may open its data, so it serves reads for everyone else), then the
consumer.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from hopstream.readiness import mark_ready
from hopstream.settings import Settings
from services.clickhouse.client import make_client
from services.clickhouse.migrate import migrate
from services.clickhouse.query_api import create_query_app
from services.clickhouse.retention import apply_retention
from services.kafka.admin import ensure_topics
from services.sink.consumer import Sink
from services.sink.writer import Writer

log = logging.getLogger(__name__)


async def run_sink(settings: Settings) -> None:
    await ensure_topics(settings)
    client = make_client(settings)
    applied = migrate(client, settings.clickhouse_database)
    if applied:
        log.info("applied migrations: %s", ", ".join(f"{m.version:04d}" for m in applied))
    for change in apply_retention(client, settings):
        log.info("retention: %s", change)
    writer = Writer(client, settings.clickhouse_database)
    sink = Sink(settings, writer)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, sink.stop)
    runner: web.AppRunner | None = None
    if settings.embedded_clickhouse:
        app = create_query_app(
            make_client(settings),
            max_result_rows=settings.query_max_result_rows,
            max_result_bytes=settings.query_max_result_bytes,
            max_execution_time_s=settings.query_max_execution_s,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.clickhouse_host, settings.clickhouse_port).start()
        log.info("ClickHouse query interface (read-only) on http://%s:%d",
                 settings.clickhouse_host, settings.clickhouse_port)
    try:
        await sink.run(on_ready=lambda: mark_ready(settings, "sink"))
    finally:
        if runner is not None:
            await runner.cleanup()
        writer.close()
        client.close()
