"""Realistic message instances shared by the unit tests (plain builders, no fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.messages import Click, Conversion, Offer, PayoutRule, Postback, PostbackIssue

CLICK_ID = "0190f1a2b3c47d8e9fa0b1c2d3e4f5a6"
POSTBACK_ID = "0190f1a2b3c47d8e9fa0b1c2d3e4f5b7"
CLICKED_AT = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
RECEIVED_AT = datetime(2024, 5, 3, 8, 30, 15, 456000, tzinfo=UTC)


def click(**changes: Any) -> Click:
    values: dict[str, Any] = {
        "click_id": CLICK_ID,
        "offer_id": "keto",
        "clicked_at": CLICKED_AT,
        "traffic_source": "facebook",
        "campaign": "spring sale",
        "creative": "banner-7",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "referer": "https://example.com/article?id=3",
        "params": {"traffic_source": "facebook", "campaign": "spring sale", "x": "é&="},
        "query_string": "traffic_source=facebook&campaign=spring+sale&x=%C3%A9%26%3D",
    }
    values.update(changes)
    return Click(**values)


def postback(**changes: Any) -> Postback:
    values: dict[str, Any] = {
        "postback_id": POSTBACK_ID,
        "received_at": RECEIVED_AT,
        "click_id": CLICK_ID,
        "event": "purchase",
        "payout": Decimal("12.345678"),
        "receipt": "ABCD1234",
        "currency": "USD",
        "token": "s3cret",
        "method": "POST",
        "path": "/pb",
        "source_ip": "198.51.100.2",
        "params": {"tid": CLICK_ID, "event_parameter": "purchase", "payout": "12.345678"},
        "query_string": f"tid={CLICK_ID}",
        "body": "event_parameter=purchase&payout=12.345678",
    }
    values.update(changes)
    return Postback(**values)


def conversion(**changes: Any) -> Conversion:
    values: dict[str, Any] = {
        "postback_id": POSTBACK_ID,
        "click_id": CLICK_ID,
        "offer_id": "keto",
        "event": "purchase",
        "receipt": "ABCD1234",
        "payout": Decimal("12.50"),
        "currency": "USD",
        "converted_at": RECEIVED_AT,
        "clicked_at": CLICKED_AT,
        "traffic_source": "facebook",
        "campaign": "spring sale",
        "creative": "banner-7",
    }
    values.update(changes)
    return Conversion(**values)


def issue(**changes: Any) -> PostbackIssue:
    values: dict[str, Any] = {
        "postback_id": POSTBACK_ID,
        "reason": "missing_payout",
        "detail": "payout: missing",
        "received_at": RECEIVED_AT,
        "click_id": CLICK_ID,
        "offer_id": "keto",
        "event": "purchase",
        "receipt": "ABCD1234",
        "raw": '{"click_id":"0190f1a2b3c47d8e9fa0b1c2d3e4f5a6"}',
    }
    values.update(changes)
    return PostbackIssue(**values)


def offer(**changes: Any) -> Offer:
    values: dict[str, Any] = {
        "id": "keto",
        "tracking_url": "https://keto.hop.clickbank.net/?tid={click_id}",
        "postback_token": "s3cret",
        "attribution_window_days": 30,
        "payouts": [
            PayoutRule(event="purchase", payout="postback"),
            PayoutRule(event="upsell", payout="50%", recurrent=True),
            PayoutRule(event="*", payout="10.00"),
        ],
    }
    values.update(changes)
    return Offer(**values)
