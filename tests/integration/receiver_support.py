"""Running the receiver app in-process against the real broker, and finding what it wrote."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from hopstream.offers import parse_offers
from hopstream.receiver_sections import parse_receiver_sections
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode
from schemas.messages import Postback, PostbackIssue
from services.receiver.app import create_app, server_options
from tests.clickbank import SECRET
from tests.waiting import read_topic

OFFERS_DOCUMENT: dict[str, Any] = {
    "offers": [
        {
            "id": "keto",
            "tracking_url": "https://v.hop.clickbank.net/?tid={click_id}&src={traffic_source}"
            "&sub={aff_sub1}",
            "payouts": [{"event": "*", "payout": "postback"}],
        },
        {
            "id": "fit",
            "tracking_url": "https://f.hop.clickbank.net/?tid={click_id}",
            "postback_token": "f1t-token",
            "payouts": [{"event": "*", "payout": "postback"}],
        },
        {
            "id": "walled",
            "tracking_url": "https://w.hop.clickbank.net/?tid={click_id}",
            "postback_token": "walled-token",
            "payouts": [{"event": "*", "payout": "postback"}],
        },
    ],
    "clickbank": {"accounts": {"mystore": {"secret_key": SECRET}}},
    "postback_allowlists": {"walled": ["198.51.100.0/24"]},
}
OFFERS = parse_offers(OFFERS_DOCUMENT)
SECTIONS = parse_receiver_sections(OFFERS_DOCUMENT, OFFERS)


@asynccontextmanager
async def receiver(settings: Settings) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    server = TestServer(create_app(settings, OFFERS, SECTIONS))
    await server.start_server(**server_options(settings))
    async with TestClient(server) as client:
        yield client


async def find_issue(settings: Settings, postback_id: str) -> PostbackIssue:
    def matching(records: list[Any]) -> list[PostbackIssue]:
        issues = (decode(PostbackIssue, r.value) for r in records)
        return [i for i in issues if i.postback_id == postback_id]

    records = await read_topic(settings.bootstrap_servers, topics.POSTBACK_ISSUES.name,
                               lambda rs: bool(matching(rs)))
    return matching(records)[0]


async def find_postbacks(settings: Settings, postback_ids: set[str],
                         within: float = 30.0) -> dict[str, Postback]:
    def matching(records: list[Any]) -> dict[str, Postback]:
        found = (decode(Postback, r.value) for r in records)
        return {p.postback_id: p for p in found if p.postback_id in postback_ids}

    records = await read_topic(settings.bootstrap_servers, topics.RAW_POSTBACKS.name,
                               lambda rs: len(matching(rs)) == len(postback_ids), within=within)
    return matching(records)
