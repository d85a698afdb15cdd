"""The receiver's Prometheus metrics and their `/metrics` rendering.

One registry per application (not prometheus_client's global one), so that several apps
in one process (tests, the benchmark) never mix their numbers. Labels are bounded: the
route is the route's pattern (`/c/{offer_id}`), never the raw path, and the reason is one
of the receiver's reason codes.

The per-request series (requests, request latency, produce latency) are plain integers
and lists updated in place and turned into Prometheus families only when scraped:
prometheus_client's own Counter and Histogram take a lock and walk their buckets on every
observation, which was a measurable share of a postback's CPU time. One event loop
updates them, so no lock is needed. The rarely-changing series stay prometheus_client's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# Sub-millisecond to seconds: the target is a p99 well under 25 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)


class LatencyHistogram:
    """Observations of one labelled histogram series: per-bucket counts (the last one is
    +Inf) and the sum; made cumulative only when rendered."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket (Prometheus `le`).
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, out = 0, list[tuple[str, float]]()
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.counts, strict=True):
            cumulative += count
            out.append((floatToGoString(bound), cumulative))  # type: ignore[no-untyped-call]
        return out


class ReceiverMetrics(Collector):
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests: dict[tuple[str, int, str], int] = {}  # (route, status, reason)
        self.latency: dict[str, LatencyHistogram] = {}  # by route
        self.produce_latency: dict[str, LatencyHistogram] = {}  # by topic
        self.registry.register(self)
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

    def answered(self, route: str, status: int, reason: str, seconds: float) -> None:
        """One answered request: counted by route, status and reason; timed by route."""
        key = (route, status, reason)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = LatencyHistogram()
        histogram.observe(seconds)

    def produced(self, topic: str, seconds: float) -> None:
        histogram = self.produce_latency.get(topic)
        if histogram is None:
            histogram = self.produce_latency[topic] = LatencyHistogram()
        histogram.observe(seconds)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "hopstream_receiver_requests", "Requests answered, by route, status and reason.",
            labels=["route", "status", "reason"])
        for (route, status, reason), count in sorted(self.requests.items()):
            requests.add_metric([route, str(status), reason], count)
        yield requests
        yield _histogram("hopstream_receiver_request_seconds",
                         "Time to answer a request, by route.", "route", self.latency)
        yield _histogram("hopstream_receiver_produce_seconds",
                         "Time until the broker acknowledged a message (acks=all), by topic.",
                         "topic", self.produce_latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _histogram(name: str, documentation: str, label: str,
               series: dict[str, LatencyHistogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, histogram in sorted(series.items()):
        family.add_metric([value], histogram.buckets(), histogram.total)
    return family
