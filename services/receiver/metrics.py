"""The receiver's Prometheus metrics, the middleware that records them, and `/metrics`.

One registry per application (not prometheus_client's global one), so that several apps
in one process (tests, the benchmark) never mix their numbers. Labels are bounded: the
route is the route's pattern (`/c/{offer_id}`), never the raw path, and the reason is one
of the receiver's reason codes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from services.receiver.responses import REASON

# Sub-millisecond to seconds: the target is a p99 well under 25 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ReceiverMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._request_children: dict[tuple[str, int, str], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self.requests = Counter(
            "hopstream_receiver_requests", "Requests answered, by route, status and reason.",
            ["route", "status", "reason"], registry=self.registry,
        )
        self.latency = Histogram(
            "hopstream_receiver_request_seconds", "Time to answer a request, by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.produce_latency = Histogram(
            "hopstream_receiver_produce_seconds",
            "Time until the broker acknowledged a message (acks=all), by topic.",
            ["topic"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.spooled = Counter(
            "hopstream_receiver_spooled", "Messages written to the spool instead of the broker.",
            ["topic"], registry=self.registry,
        )
        self.replayed = Counter(
            "hopstream_receiver_replayed", "Spooled messages sent to the broker afterwards.",
            registry=self.registry,
        )
        self.spool_records = Gauge(
            "hopstream_receiver_spool_records", "Spooled messages not yet on the broker.",
            registry=self.registry,
        )
        self.spool_bytes = Gauge(
            "hopstream_receiver_spool_bytes", "Size of the spool journal on disk.",
            registry=self.registry,
        )
        self.broker_up = Gauge(
            "hopstream_receiver_broker_up",
            "1 while messages go straight to the broker, 0 while they go to the spool.",
            registry=self.registry,
        )

    def count(self, route: str, status: int, reason: str) -> None:
        key = (route, status, reason)
        child = self._request_children.get(key)
        if child is None:  # labels() is a locked lookup: done once per label set, not per hit
            child = self._request_children[key] = self.requests.labels(route, str(status),
                                                                       reason)
        child.inc()

    def observe(self, route: str, seconds: float) -> None:
        child = self._latency_children.get(route)
        if child is None:
            child = self._latency_children[route] = self.latency.labels(route)
        child.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def metrics_middleware(metrics: ReceiverMetrics) -> Middleware:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status, reason = 500, "error"
        try:
            response = await handler(request)
            status = response.status
            reason = response.get(REASON, "ok" if status < 400 else "error")
            return response
        except web.HTTPException as exc:
            status, reason = exc.status, "ok" if exc.status < 400 else "error"
            raise
        finally:
            route = route_label(request)
            metrics.count(route, status, reason)
            metrics.observe(route, time.perf_counter() - started)

    return record

