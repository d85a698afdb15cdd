"""streams.rules: rule matching and what each payout kind pays."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.messages import PayoutRule
from streams.rules import Refusal, describe, match_rule, price

from . import samples


def test_first_matching_rule_wins_and_star_matches_anything() -> None:
    offer = samples.offer()
    assert match_rule(offer, "purchase") == PayoutRule(event="purchase", payout="postback")
    assert match_rule(offer, "upsell") == PayoutRule(event="upsell", payout="50%",
                                                     recurrent=True)
    assert match_rule(offer, "whatever") == PayoutRule(event="*", payout="10.00")
    assert match_rule(samples.offer(payouts=[PayoutRule(event="a", payout="kpi")]), "b") is None


@pytest.mark.parametrize(("payout", "sent", "expected"), [
    ("postback", "12.50", Decimal("12.50")),
    ("postback", "-37.00", Decimal("-37.00")),
    ("10.00", None, Decimal("10.00")),
    ("10.00", "99.99", Decimal("10.00")),
    ("50%", "25.00", Decimal("12.500000")),
    ("33.3%", "0.10", Decimal("0.033300")),
    ("50%", "0.000001", Decimal("0.000000")),  # half-even at the 6th place
    ("50%", "0.000003", Decimal("0.000002")),
    ("kpi", "12.50", Decimal(0)),
])
def test_price(payout: str, sent: str | None, expected: Decimal) -> None:
    postback = samples.postback(payout=None if sent is None else Decimal(sent))
    result = price(PayoutRule(event="*", payout=payout), postback, Decimal(0))
    assert result == expected and isinstance(result, Decimal)


@pytest.mark.parametrize("payout", ["postback", "50%"])
def test_payout_from_the_postback_needs_one(payout: str) -> None:
    result = price(PayoutRule(event="sale", payout=payout), samples.postback(payout=None),
                   Decimal(0))
    assert isinstance(result, Refusal) and result.reason == "missing_payout"
    assert f"sale: {payout}" in result.detail


def test_reverse() -> None:
    rule = PayoutRule(event="refund", payout="reverse")
    assert price(rule, samples.postback(), Decimal("37.50")) == Decimal("-37.50")
    for credited, receipt in ((Decimal(0), "ABCD1234"), (Decimal("-1"), "ABCD1234"),
                              (Decimal("5"), "")):
        refused = price(rule, samples.postback(receipt=receipt), credited)
        assert isinstance(refused, Refusal) and refused.reason == "nothing_to_reverse"


def test_describe() -> None:
    assert describe(PayoutRule(event="upsell", payout="50%", recurrent=True)) == (
        "upsell: 50%, recurrent")
