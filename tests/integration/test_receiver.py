"""The receiver against the real broker: what it answers and what it publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hopstream.offers import parse_offers
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode
from schemas.messages import Click, Postback, PostbackIssue
from services.kafka.admin import ensure_topics
from services.receiver.app import create_app
from tests.waiting import read_topic

pytestmark = pytest.mark.kafka

OFFERS = parse_offers(
    {
        "offers": [
            {
                "id": "keto",
                "tracking_url": "https://v.hop.clickbank.net/?tid={click_id}&src={traffic_source}"
                "&sub={aff_sub1}",
                "payouts": [{"event": "*", "payout": "postback"}],
            }
        ]
    }
)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await ensure_topics(settings)
    async with TestClient(TestServer(create_app(settings, OFFERS))) as client:
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
