"""The receiver against the real broker: what it answers and what it publishes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode
from schemas.messages import Click, Postback, PostbackIssue
from services.kafka.admin import ensure_topics
from tests.integration.receiver_support import find_issue, find_postbacks, receiver
from tests.waiting import read_topic

pytestmark = pytest.mark.kafka

@pytest.fixture
async def client(settings: Settings, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await ensure_topics(settings)
    async with receiver(settings.replace(data_dir=tmp_path)) as client:
        yield client


async def test_click_redirects_to_hoplink_with_tid_and_is_published(
    client: TestClient, settings: Settings  # type: ignore[type-arg]
) -> None:
    response = await client.get(
        "/c/keto?traffic_source=fb ads&campaign=spring",
        allow_redirects=False,
        headers={"User-Agent": "pytest-agent"},
    )
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "v.hop.clickbank.net"
    query = parse_qs(location.query, keep_blank_values=True)
    click_id = query["tid"][0]
    assert len(click_id) == 32 and int(click_id, 16) >= 0
    assert query["src"] == ["fb ads"]  # URL-encoded on the way out, decoded here
    assert query["sub"] == [""]  # a macro with no value becomes empty
    assert response.headers["Cache-Control"] == "no-store"

    records = await read_topic(
        settings.bootstrap_servers, topics.RAW_CLICKS.name,
        lambda rs: any(r.key == click_id.encode() for r in rs),
    )
    click = decode(Click, next(r.value for r in records if r.key == click_id.encode()))
    assert click.offer_id == "keto"
    assert click.traffic_source == "fb ads"
    assert click.campaign == "spring"
    assert click.user_agent == "pytest-agent"
    assert click.params == {"traffic_source": "fb ads", "campaign": "spring"}


async def test_unknown_offer_is_a_json_404(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/c/nope", allow_redirects=False)
    assert response.status == 404
    body = await response.json()
    assert body["reason"] == "unknown_offer"
    assert "nope" in body["detail"]


async def test_postback_is_acknowledged_after_the_broker_has_it(
    client: TestClient, settings: Settings  # type: ignore[type-arg]
) -> None:
    response = await client.get(
        "/api/v1/events?tid=ABCDEF0123&event_parameter=purchase&affiliateEarnings=12.50"
        "&receipt=P3RGBKGB&currency=usd&extra=kept"
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "accepted"
    postback_id = body["postback_id"]

    records = await read_topic(
        settings.bootstrap_servers, topics.RAW_POSTBACKS.name,
        lambda rs: any(decode(Postback, r.value).postback_id == postback_id for r in rs),
    )
    record = next(r for r in records if decode(Postback, r.value).postback_id == postback_id)
    postback = decode(Postback, record.value)
    assert record.key == b"abcdef0123"  # keyed by the (lowercased) click id
    assert postback.event == "purchase"
    assert postback.payout == Decimal("12.50")
    assert postback.receipt == "P3RGBKGB"
    assert postback.currency == "USD"
    assert postback.params["extra"] == "kept"


async def test_postback_as_json_post(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/events", json={"click_id": "abc123", "event": "upsell", "payout": "7.00"}
    )
    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("query", "detail_names"),
    [
        ("event_parameter=purchase&payout=1.00", "click_id"),
        ("click_id={trackingCodes}&event_parameter=purchase", "click_id"),
        ("click_id=abc&event_parameter=[event_name]", "event_parameter"),
        ("click_id=abc&event_parameter=purchase&payout=ten", "payout"),
    ],
)
async def test_bad_postback_is_rejected_with_a_reason_and_still_recorded(
    client: TestClient, settings: Settings, query: str, detail_names: str  # type: ignore[type-arg]
) -> None:
    response = await client.get(f"/api/v1/events?{query}")
    assert response.status == 400
    body = await response.json()
    assert body["status"] == "rejected"
    assert body["reason"] == "invalid"
    assert detail_names in body["detail"]
    postback_id = body["postback_id"]

    records = await read_topic(
        settings.bootstrap_servers, topics.POSTBACK_ISSUES.name,
        lambda rs: any(decode(PostbackIssue, r.value).postback_id == postback_id for r in rs),
    )
    issue = next(
        decode(PostbackIssue, r.value) for r in records
        if decode(PostbackIssue, r.value).postback_id == postback_id
    )
    assert issue.reason == "invalid"
    assert issue.detail == body["detail"]
    assert query.split("&")[0] in issue.raw  # the request as received is kept


async def test_unknown_route_is_json(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/nowhere")
    assert response.status == 404
    assert (await response.json())["reason"] == "not_found"
    wrong_method = await client.put("/api/v1/events")
    assert wrong_method.status == 405
    assert (await wrong_method.json())["reason"] == "method_not_allowed"
    assert wrong_method.headers["Allow"] == "GET,HEAD,POST"


TRACKING = {
    "traffic_source": "fb", "traffic_type": "paid", "offer": "o1", "campaign": "c1",
    "adgroup": "ag1", "ad": "ad1", "creative": "cr1", "aff_sub1": "s1", "aff_sub2": "s2",
    "aff_sub3": "s3", "aff_sub4": "s4", "aff_sub5": "s5", "network_aff": "net",
    "extclid": "x" * 256, "fbclid": "fb.1.abc", "gclid": "Cj0KCQ", "contact_id": "ct9",
    "unique_aff_sub1": "u1", "unique_aff_sub2": "u2", "unique_aff_sub3": "u3",
    "unique_aff_sub4": "u4", "unique_aff_sub5": "u5",
}


async def test_click_captures_every_clickbank_tracking_parameter(
    settings: Settings, tmp_path: Path
) -> None:
    await ensure_topics(settings)
    trusted = settings.replace(data_dir=tmp_path, receiver_trusted_proxies="127.0.0.1")
    async with receiver(trusted) as client:
        response = await client.get(
            "/c/keto", params={**TRACKING, "other": "kept"}, allow_redirects=False,
            headers={"X-Forwarded-For": "203.0.113.50", "Referer": "https://ref.example/"},
        )
    assert response.status == 302
    click_id = parse_qs(urlsplit(response.headers["Location"]).query)["tid"][0]
    records = await read_topic(
        settings.bootstrap_servers, topics.RAW_CLICKS.name,
        lambda rs: any(r.key == click_id.encode() for r in rs),
    )
    click = decode(Click, next(r.value for r in records if r.key == click_id.encode()))
    assert {name: getattr(click, name) for name in TRACKING} == TRACKING
    assert click.params == {**TRACKING, "other": "kept"}
    assert click.ip == "203.0.113.50"  # from X-Forwarded-For: the peer is a trusted proxy
    assert click.referer == "https://ref.example/"
    assert "gclid=Cj0KCQ" in click.query_string


async def test_any_tracking_parameter_is_a_macro_of_the_tracking_url(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.get("/c/keto?aff_sub1=a%26b&traffic_source=x", allow_redirects=False)
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert (query["sub"], query["src"]) == (["a&b"], ["x"])


@pytest.mark.parametrize(
    "spelling",
    [
        {"click_id": "abc123", "event_parameter": "purchase", "payout": "12.50",
         "receipt": "P3RGBKGB"},
        {"trackingCodes": "abc123", "event_type": "purchase", "affiliateEarnings": "12.50",
         "receipt_id": "P3RGBKGB"},
        {"tid": "abc123", "event": "purchase", "affiliate_earnings": "12.50",
         "transaction_id": "P3RGBKGB"},
        {"aggregated_id": "ABC123", "event": "purchase", "payout": "12.50",
         "receipt": "P3RGBKGB"},
    ],
)
async def test_alias_spellings_make_the_same_postback(
    client: TestClient, settings: Settings, spelling: dict[str, str]  # type: ignore[type-arg]
) -> None:
    extra = {"vendorEarnings": "3.10", "advertiser_id": "adv7", "currency": "usd"}
    response = await client.post("/api/v1/events", data={**spelling, **extra})
    assert response.status == 200, await response.text()
    postback_id = (await response.json())["postback_id"]
    postback = (await find_postbacks(settings, {postback_id}))[postback_id]
    assert (postback.click_id, postback.event, postback.payout, postback.receipt) == (
        "abc123", "purchase", Decimal("12.50"), "P3RGBKGB")
    assert (postback.vendor_earnings, postback.advertiser_id, postback.currency) == (
        Decimal("3.10"), "adv7", "USD")
    assert postback.params == {**spelling, **extra}
    assert postback.method == "POST"


async def test_a_token_of_an_offer_is_accepted_and_kept(
    client: TestClient, settings: Settings  # type: ignore[type-arg]
) -> None:
    response = await client.get("/api/v1/events?tid=abc&event=purchase&token=f1t-token")
    assert response.status == 200
    postback_id = (await response.json())["postback_id"]
    postback = (await find_postbacks(settings, {postback_id}))[postback_id]
    assert postback.token == "f1t-token"  # the worker checks it against the click's offer


LONG = "x" * 9000


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "reason", "detail_says"),
    [
        ("GET", "/api/v1/events?tid=abc&event=purchase&token=nope", None, 401, "bad_token",
         "token"),
        ("GET", "/api/v1/events?tid=abc&event=purchase&token=walled-token", None, 403,
         "forbidden_ip", "postback_allowlists"),
        ("GET", f"/api/v1/events?tid=abc&event=purchase&pad={LONG}", None, 413, "too_large",
         "query string"),
        ("POST", "/api/v1/events", b"tid=abc&event=purchase&pad=" + b"y" * 70_000, 413,
         "too_large", "body"),
        ("POST", "/api/v1/events?tid=abc", b"<xml/>", 400, "invalid", "content type"),
        ("GET", "/api/v1/events?tid=abc&event=purchase&payout=-1000000.01", None, 400,
         "invalid", "range"),
    ],
)
async def test_every_refusal_is_answered_with_its_reason_and_recorded(
    client: TestClient, settings: Settings, method: str, url: str,  # type: ignore[type-arg]
    body: bytes | None, status: int, reason: str, detail_says: str,
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if body == b"<xml/>":
        headers["Content-Type"] = "application/xml"
    response = await client.request(method, url, data=body, headers=headers)
    assert response.status == status
    answer = await response.json()
    assert (answer["status"], answer["reason"]) == ("rejected", reason)
    assert detail_says in answer["detail"]
    issue = await find_issue(settings, answer["postback_id"])
    assert (issue.reason, issue.detail) == (reason, answer["detail"])
    raw = json.loads(issue.raw)
    assert raw["method"] == method and raw["source_ip"] == "127.0.0.1"
    assert len(issue.raw) < 40_000  # an oversized request is recorded, bounded


async def test_global_allow_list_and_trusted_proxies(settings: Settings, tmp_path: Path) -> None:
    await ensure_topics(settings)
    walled = settings.replace(data_dir=tmp_path, receiver_allowed_ips="198.51.100.0/24")
    async with receiver(walled) as client:
        refused = await client.get("/api/v1/events?tid=abc&event=purchase",
                                   headers={"X-Forwarded-For": "198.51.100.9"})
        assert refused.status == 403  # the header is not believed from an untrusted peer
        answer = await refused.json()
        assert answer["reason"] == "forbidden_ip" and "127.0.0.1" in answer["detail"]
        clicked = await client.get("/c/keto", allow_redirects=False)
        assert clicked.status == 302  # visitors' clicks are never restricted
    issue = await find_issue(settings, answer["postback_id"])
    assert issue.reason == "forbidden_ip" and issue.click_id == "abc"

    proxied = walled.replace(receiver_trusted_proxies="127.0.0.1/32")
    async with receiver(proxied) as client:
        ok = await client.get("/api/v1/events?tid=abc&event=purchase",
                              headers={"X-Forwarded-For": "198.51.100.9"})
        assert ok.status == 200
        walled_token = await client.get(
            "/api/v1/events?tid=abc&event=purchase&token=walled-token",
            headers={"X-Forwarded-For": "198.51.100.9"})
        assert walled_token.status == 200  # inside the offer's own allow-list too


async def test_health_readiness_and_metrics(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["broker"] == "up"
    await client.get("/api/v1/events?tid=abc&event=purchase")
    await client.get("/api/v1/events?tid=abc")
    await client.get("/c/nope")
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    requests = {
        (s.labels["route"], s.labels["status"], s.labels["reason"]): s.value
        for s in families["hopstream_receiver_requests"].samples if s.name.endswith("_total")
    }
    assert requests[("/api/v1/events", "200", "ok")] == 1
    assert requests[("/api/v1/events", "400", "invalid")] == 1
    assert requests[("/c/{offer_id}", "404", "unknown_offer")] == 1
    latency = families["hopstream_receiver_request_seconds"]
    assert any(s.name.endswith("_count") and s.labels["route"] == "/api/v1/events"
               and s.value == 2 for s in latency.samples)
    produce = families["hopstream_receiver_produce_seconds"]
    assert any(s.name.endswith("_count") and s.value >= 1 for s in produce.samples)
    assert families["hopstream_receiver_spool_records"].samples[0].value == 0
    assert families["hopstream_receiver_broker_up"].samples[0].value == 1
