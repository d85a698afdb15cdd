"""The receiver's aiohttp application: routes, state and the lifetime of its producer.

One producer per process, started and stopped by `cleanup_ctx`; handlers reach it (and the
offers and settings) through typed AppKeys. `run_receiver` is what `hopstream receiver`
runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from hopstream.offers import load_offers
from hopstream.readiness import mark_ready
from hopstream.settings import Settings
from schemas.messages import Offer
from services.kafka.admin import ensure_topics
from services.kafka.producer import make_producer
from services.receiver import keys
from services.receiver.clicks import handle_click
from services.receiver.postbacks import handle_postback
from services.receiver.publisher import Publisher
from services.receiver.responses import json_errors, json_response

log = logging.getLogger(__name__)

# Postback bodies are a handful of parameters; anything near this is not ClickBank.
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings, offers: dict[str, Offer] | None = None) -> web.Application:
    app = web.Application(middlewares=[json_errors], client_max_size=MAX_BODY_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.OFFERS] = offers if offers is not None else load_offers(settings.offers_file)
    app.cleanup_ctx.append(_producer_ctx)
    app.router.add_get("/c/{offer_id}", handle_click)
    app.router.add_route("GET", "/api/v1/events", handle_postback)
    app.router.add_route("POST", "/api/v1/events", handle_postback)
    app.router.add_get("/healthz", _healthz)
    return app


async def _producer_ctx(app: web.Application) -> AsyncIterator[None]:
    producer = make_producer(app[keys.SETTINGS], client_id="hopstream-receiver")
    await producer.start()
    app[keys.PUBLISHER] = Publisher(producer)
    try:
        yield
    finally:
        # stop() flushes whatever is still buffered before closing.
        await producer.stop()


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def run_receiver(settings: Settings) -> None:
    await ensure_topics(settings)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.receiver_host, settings.receiver_port)
    await site.start()
    log.info("receiver listening on http://%s:%d", settings.receiver_host, settings.receiver_port)
    mark_ready(settings, "receiver")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
