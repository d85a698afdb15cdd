"""ClickBank INS v8 through the receiver: encrypted in the test with a known secret."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hopstream.settings import Settings
from services.kafka.admin import ensure_topics
from tests.clickbank import encrypt, sale
from tests.integration.receiver_support import find_issue, find_postbacks, receiver

pytestmark = pytest.mark.kafka

CLICK = "0190f1a2b3c47d8e9fa0b1c2d3e4f5a6"
URL = "/api/v1/clickbank/ins/mystore"


@pytest.fixture
async def client(settings: Settings, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    await ensure_topics(settings)
    async with receiver(settings.replace(data_dir=tmp_path)) as client:
        yield client


async def post(client: TestClient, notification: dict[str, Any],  # type: ignore[type-arg]
               url: str = URL, **encryption: str) -> tuple[int, dict[str, Any]]:
    response = await client.post(url, json=encrypt(notification, **encryption))
    return response.status, await response.json()


@pytest.mark.parametrize(
    ("changes", "event", "payout"),
    [
        ({}, "purchase", "37.45"),
        ({"receipt": "UPS12345", "upsell": {"upsellOriginalReceipt": "P3RGBKGB"}}, "upsell",
         "37.45"),
        ({"transactionType": "BILL", "receipt": "P3RGBKGB-B002"}, "rebill", "37.45"),
        ({"transactionType": "RFND", "totalAccountAmount": -37.45}, "refund", "-37.45"),
        ({"transactionType": "CGBK", "totalAccountAmount": -37.45}, "chargeback", "-37.45"),
    ],
)
async def test_notification_becomes_a_postback(
    client: TestClient, settings: Settings,  # type: ignore[type-arg]
    changes: dict[str, Any], event: str, payout: str,
) -> None:
    status, answer = await post(client, sale(trackingCodes=[CLICK.upper(), "other"], **changes))
    assert status == 200, answer
    assert answer["status"] == "accepted"
    postback = (await find_postbacks(settings, {answer["postback_id"]}))[answer["postback_id"]]
    assert (postback.click_id, postback.event, postback.payout, postback.currency) == (
        CLICK, event, Decimal(payout), "USD")
    assert postback.receipt == changes.get("receipt", "P3RGBKGB")
    assert postback.params["transactionType"] == changes.get("transactionType", "SALE")
    assert postback.params["ins_account"] == "mystore"
    assert postback.ins_account == "mystore"  # authenticated: the worker asks for no token
    assert postback.method == "POST" and postback.path == URL
    kept = json.loads(postback.body)  # the notification in clear, without the buyer
    assert kept["receipt"] == postback.receipt and "customer" not in kept


async def test_test_notification_is_acknowledged_and_recorded_as_test(
    client: TestClient, settings: Settings  # type: ignore[type-arg]
) -> None:
    status, answer = await post(client, sale(transactionType="TEST_SALE"))
    assert status == 200  # ClickBank's "Test" button must succeed
    assert (answer["status"], answer["reason"]) == ("recorded", "test")
    issue = await find_issue(settings, answer["postback_id"])
    assert (issue.reason, issue.click_id, issue.receipt) == ("test", CLICK, "P3RGBKGB")


@pytest.mark.parametrize(
    ("url", "encryption", "status", "reason"),
    [
        (URL, {"secret": "WRONGSECRET"}, 400, "undecryptable"),
        ("/api/v1/clickbank/ins/nobody", {}, 404, "unknown_account"),
    ],
)
async def test_refused_notifications_are_recorded(
    client: TestClient, settings: Settings, url: str,  # type: ignore[type-arg]
    encryption: dict[str, str], status: int, reason: str,
) -> None:
    answer_status, answer = await post(client, sale(), url, **encryption)
    assert (answer_status, answer["reason"]) == (status, reason)
    issue = await find_issue(settings, answer["postback_id"])
    assert issue.reason == reason
    assert "notification" in json.loads(issue.raw)["body"]  # the envelope as received


async def test_garbage_body_is_undecryptable(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.post(URL, data=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status == 400
    assert (await response.json())["reason"] == "undecryptable"
