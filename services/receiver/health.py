"""Operability endpoints: `/healthz` (alive), `/readyz` (can take writes), `/metrics`.

Readiness is about writes, not about the broker alone: while the broker is away the
receiver still takes traffic into its spool, so it stays ready until the spool is full
too. A load balancer should then send ClickBank's retries elsewhere.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from services.receiver import keys
from services.receiver.responses import json_response


async def handle_healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def handle_readyz(request: web.Request) -> web.Response:
    publisher = request.app.get(keys.PUBLISHER)
    if publisher is None:
        return json_response({"ready": False, "detail": "starting"}, 503)
    body = {
        "ready": publisher.ready,
        "broker": "up" if publisher.broker_up else "unreachable",
        "spool_records": publisher.spool.pending_records,
        "spool_bytes": publisher.spool.size,
        "spool_max_bytes": publisher.spool.max_bytes,
    }
    return json_response(body, 200 if publisher.ready else 503)


async def handle_metrics(request: web.Request) -> web.Response:
    publisher = request.app.get(keys.PUBLISHER)
    if publisher is not None:
        publisher.update_gauges()
    return web.Response(body=request.app[keys.METRICS].render(),
                        headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
