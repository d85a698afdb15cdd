"""streams.state and streams.ledger: what the worker's tables store round-trips exactly."""

from __future__ import annotations

from decimal import Decimal

from streams.ledger import Decision, Ledger
from streams.state import (
    Parked,
    clicked_at_micros,
    decode_click,
    decode_parked,
    encode_click,
    encode_parked,
)

from . import samples


def test_click_keeps_what_a_conversion_copies() -> None:
    click = samples.click()
    stored = decode_click(encode_click(click))
    assert stored.clicked_at == click.clicked_at  # to the microsecond
    for name in ("click_id", "offer_id", "traffic_source", "campaign", "creative"):
        assert getattr(stored, name) == getattr(click, name)


def test_click_age_is_read_from_the_prefix() -> None:
    click = samples.click()
    assert clicked_at_micros(encode_click(click)) == int(click.clicked_at.timestamp()) * 10**6 \
        + click.clicked_at.microsecond


def test_parked_round_trip() -> None:
    parked = [Parked(1, "p1", b'{"a": "\xc3\xa9"}'), Parked(2, "p2", b"{}")]
    assert decode_parked(encode_parked(parked)) == parked
    assert decode_parked(None) == []


def test_ledger_round_trip_and_credit() -> None:
    ledger = Ledger()
    ledger.record("p1", Decision(True, Decimal("10.50"), "purchase: postback"), "purchase",
                  "R1", 5)
    ledger.record("p2", Decision(False, reason="duplicate", detail="receipt: x"), "purchase",
                  "R1", 6)
    ledger.record("p3", Decision(True, Decimal("-10.50"), "refund: reverse"), "refund", "R1", 7)
    again = Ledger.decode(ledger.encode())
    assert again == ledger
    assert again.still_credited("R1") == 0
    assert again.has_event("purchase") and not again.has_event("upsell")
    assert again.credit_for("refund", "R1") is not None
    assert again.touched_ms == 7
    assert Ledger.decode(None) == Ledger()
