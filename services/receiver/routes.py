"""The receiver's routes, each wrapped once with what every answer needs.

Every handler is wrapped at registration (not by middleware): the wrapper counts and
times the answer by route, status and reason, turns a full spool into 503 with
Retry-After, and aiohttp's own errors into JSON. aiohttp runs a request through three
extra coroutines when an application has two middlewares (its own `current_app` fixer
included); measured, that cost more per request than everything this wrapper does. With
no middleware left, paths and methods no route serves get JSON answers from fallback
routes registered after the real ones: `*` on each path (405) and on any path (404).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from services.receiver.metrics import ReceiverMetrics
from services.receiver.responses import REASON, RETRY_AFTER_S, rejected
from services.receiver.spool import SpoolFull

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_REASONS = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
UNMATCHED = "unmatched"  # the route label of paths no route serves


def instrumented(metrics: ReceiverMetrics, route: str, handler: Handler) -> Handler:
    """`handler`, answering in JSON on errors and recorded in the metrics under `route`."""
    perf_counter = time.perf_counter

    async def handle(request: web.Request) -> web.StreamResponse:
        started = perf_counter()
        try:
            response = await handler(request)
        except SpoolFull as exc:
            response = rejected(
                503, "unavailable",
                f"the broker is unreachable and the local spool is full ({exc}); retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)})
        except web.HTTPException as exc:
            if exc.status < 400:
                metrics.answered(route, exc.status, "ok", perf_counter() - started)
                raise
            response = rejected(exc.status, HTTP_REASONS.get(exc.status, "bad_request"),
                                exc.text or exc.reason)
        except BaseException:
            metrics.answered(route, 500, "error", perf_counter() - started)
            raise
        status = response.status
        reason = response.get(REASON) or ("ok" if status < 400 else "error")
        metrics.answered(route, status, reason, perf_counter() - started)
        return response

    return handle


def add_routes(app: web.Application, metrics: ReceiverMetrics,
               routes: dict[str, dict[str, Handler]]) -> None:
    """Register {path: {method: handler}}, each instrumented, then the JSON fallbacks."""
    for path, handlers in routes.items():
        if "GET" in handlers:
            handlers = {**handlers, "HEAD": handlers["GET"]}  # as aiohttp's add_get does
        resource = app.router.add_resource(path)
        for method, handler in handlers.items():
            resource.add_route(method, instrumented(metrics, path, handler))
        allowed = sorted(handlers)
        resource.add_route(hdrs.METH_ANY,
                           instrumented(metrics, path, _method_not_allowed(allowed)))
    app.router.add_route(hdrs.METH_ANY, "/{tail:.*}",
                         instrumented(metrics, UNMATCHED, _not_found))


async def _not_found(request: web.Request) -> web.StreamResponse:
    return rejected(404, "not_found", f"no such endpoint: {request.path[:200]}")


def _method_not_allowed(allowed: list[str]) -> Handler:
    detail = f"allowed methods: {', '.join(allowed)}"

    async def handle(request: web.Request) -> web.StreamResponse:
        return rejected(405, "method_not_allowed", f"{request.method} {detail}",
                        headers={"Allow": ",".join(allowed)})

    return handle
