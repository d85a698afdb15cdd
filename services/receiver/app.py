"""The receiver's aiohttp application: routes, state and the lifetime of its producer.

One producer per process, started and stopped by `cleanup_ctx` together with the spool
and its replayer; handlers reach them (and the offers, the access policy and the
settings) through typed AppKeys. `run_receiver` is what `hopstream receiver` runs.

Shutdown order matters for "nothing acknowledged is lost": aiohttp first stops accepting
and lets in-flight requests finish (each one ends durable, on the broker or in the
spool), then the replayer stops, pending spool writes are flushed, and the producer
flushes what it still buffers. Spooled records not yet replayed stay on disk and are
replayed at the next start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hopstream.offers import load_offers
from hopstream.readiness import mark_ready
from hopstream.receiver_sections import ReceiverSections, load_receiver_sections
from hopstream.serving import serve_until_signal
from hopstream.settings import Settings
from schemas.messages import Offer
from services.kafka.admin import ensure_topics
from services.kafka.producer import make_producer
from services.receiver import keys
from services.receiver.clicks import handle_click
from services.receiver.health import handle_healthz, handle_metrics, handle_readyz
from services.receiver.ins import handle_ins
from services.receiver.metrics import ReceiverMetrics
from services.receiver.postbacks import handle_postback
from services.receiver.publisher import Publisher
from services.receiver.replay import replay_forever, stop_replay
from services.receiver.routes import add_routes
from services.receiver.security import AccessPolicy, TokenIndex
from services.receiver.spool import Spool

log = logging.getLogger(__name__)

# How long shutdown waits for the producer to flush while the broker is away; whatever it
# still holds then is in the spool already (it was spooled when its send timed out).
PRODUCER_STOP_TIMEOUT_S = 10.0
# Allocations between young-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 14_000


def create_app(settings: Settings, offers: dict[str, Offer] | None = None,
               sections: ReceiverSections | None = None) -> web.Application:
    offers = offers if offers is not None else load_offers(settings.offers_file)
    if sections is None:
        sections = load_receiver_sections(settings.offers_file, offers)
    metrics = ReceiverMetrics()
    app = web.Application(client_max_size=settings.receiver_max_body_bytes)
    app[keys.SETTINGS] = settings
    app[keys.OFFERS] = offers
    app[keys.METRICS] = metrics
    app[keys.CLICKBANK_ACCOUNTS] = sections.accounts
    app[keys.ACCESS] = AccessPolicy(
        allowed=settings.allowed_networks,
        trusted_proxies=settings.trusted_proxies,
        tokens=TokenIndex.build(offers, sections.allowlists),
    )
    app.cleanup_ctx.append(_publisher_ctx)
    add_routes(app, metrics, {
        "/c/{offer_id}": {"GET": handle_click},
        "/api/v1/events": {"GET": handle_postback, "POST": handle_postback},
        "/api/v1/clickbank/ins/{account}": {"POST": handle_ins},
        "/healthz": {"GET": handle_healthz},
        "/readyz": {"GET": handle_readyz},
        "/metrics": {"GET": handle_metrics},
    })
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """HTTP parser bounds: above our own limits, so that an oversized request reaches the
    handler and is refused (and recorded) with a reason, instead of a bare 400 from aiohttp."""
    return {"max_line_size": settings.receiver_max_query_bytes + 8192,
            "max_field_size": 16 * 1024}


async def _publisher_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    spool = Spool(settings.spool_dir, settings.spool_max_bytes)
    producer = make_producer(settings, client_id="hopstream-receiver")
    await producer.start()
    publisher = Publisher(producer, spool, app[keys.METRICS], settings.receiver_produce_timeout_s)
    app[keys.PUBLISHER] = publisher
    replayer = asyncio.create_task(replay_forever(publisher, settings), name="spool-replay")
    try:
        yield
    finally:
        await stop_replay(replayer)
        await spool.flush()
        # stop() flushes whatever is still buffered before closing. With the broker away,
        # all of that is in the spool already: no point waiting long for it.
        wait = PRODUCER_STOP_TIMEOUT_S if publisher.broker_up else publisher.produce_timeout_s
        try:
            await asyncio.wait_for(producer.stop(), wait)
        except TimeoutError:
            log.warning("producer did not flush within %.0fs; unreplayed records stay in %s",
                        wait, spool.path)
        spool.close()


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.receiver_tls_cert is None or settings.receiver_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.receiver_tls_cert, settings.receiver_tls_key)
    return context


def _tune_gc() -> None:
    """Keep the garbage collector off the hot path. Every request allocates a few hundred
    container objects, so with the default thresholds the collector ran about every
    0.1 ms of work, and its older-generation passes walked every object of the imported
    libraries: measured, about 10% of the receiver's CPU under load. Objects alive after
    start-up are frozen out of collection for good, and young-generation passes run 20x
    less often (each collects more; memory stays bounded by the threshold)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def run_receiver(settings: Settings) -> None:
    await ensure_topics(settings)
    runner = web.AppRunner(create_app(settings), access_log=None, **server_options(settings))
    await runner.setup()
    _tune_gc()
    context = _ssl_context(settings)
    site = web.TCPSite(runner, settings.receiver_host, settings.receiver_port,
                       ssl_context=context)
    await site.start()
    log.info("receiver listening on %s://%s:%d", "https" if context else "http",
             settings.receiver_host, settings.receiver_port)
    mark_ready(settings, "receiver")
    await serve_until_signal(runner)
