"""services.receiver.metrics: plain counters rendered as Prometheus families at scrape."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from services.receiver.metrics import ReceiverMetrics


def test_histogram_buckets_are_cumulative_and_bounds_inclusive() -> None:
    metrics = ReceiverMetrics()
    for seconds in (0.0005, 0.0007, 0.003, 60.0):  # 0.0005 is a bound: it belongs to `le`
        metrics.answered("/api/v1/events", 200, "ok", seconds)
    metrics.answered("/api/v1/events", 400, "invalid", 0.002)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    buckets = {s.labels["le"]: s.value for s in families["hopstream_receiver_request_seconds"]
               .samples if s.name.endswith("_bucket")}
    assert buckets["0.0005"] == 1
    assert buckets["0.001"] == 2
    assert buckets["0.0025"] == 3
    assert buckets["0.005"] == 4
    assert buckets["10.0"] == 4
    assert buckets["+Inf"] == 5
    requests = {(s.labels["status"], s.labels["reason"]): s.value
                for s in families["hopstream_receiver_requests"].samples}
    assert requests == {("200", "ok"): 4, ("400", "invalid"): 1}
