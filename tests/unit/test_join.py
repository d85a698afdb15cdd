"""streams.join: a postback joined to its click becomes a Conversion or a PostbackIssue."""

from __future__ import annotations

from decimal import Decimal

import orjson

from schemas.codec import decode, to_dict
from schemas.messages import Conversion, Postback, PostbackIssue
from streams.join import issue_for, join

from . import samples


def _conversion(**postback_changes: object) -> Conversion:
    result = join(samples.click(), samples.postback(**postback_changes))
    assert isinstance(result, Conversion)
    return result


def test_conversion_copies_click_dimensions() -> None:
    click = samples.click()
    conversion = _conversion()
    assert conversion.click_id == click.click_id
    assert conversion.offer_id == click.offer_id
    assert conversion.clicked_at == click.clicked_at
    assert conversion.traffic_source == click.traffic_source == "facebook"
    assert conversion.campaign == click.campaign == "spring sale"
    assert conversion.creative == click.creative == "banner-7"


def test_conversion_copies_postback_facts() -> None:
    postback = samples.postback()
    conversion = _conversion()
    assert conversion.postback_id == postback.postback_id
    assert conversion.event == postback.event
    assert conversion.receipt == postback.receipt
    assert conversion.currency == postback.currency


def test_converted_at_is_when_the_postback_was_received() -> None:
    conversion = _conversion()
    assert conversion.converted_at == samples.RECEIVED_AT
    assert conversion.converted_at != conversion.clicked_at


def test_payout_is_exact() -> None:
    payout = _conversion(payout=Decimal("12.345678")).payout
    assert isinstance(payout, Decimal)
    assert str(payout) == "12.345678"


def test_negative_payout_becomes_a_reversal() -> None:
    assert _conversion(event="refund", payout=Decimal("-37.00")).payout == Decimal("-37.00")


def test_click_dimensions_win_over_postback_params() -> None:
    conversion = join(samples.click(traffic_source="tiktok"),
                      samples.postback(params={"traffic_source": "spoofed"}))
    assert isinstance(conversion, Conversion)
    assert conversion.traffic_source == "tiktok"


def test_postback_without_payout_is_an_issue() -> None:
    postback = samples.postback(payout=None)
    result = join(samples.click(offer_id="fitness"), postback)
    assert isinstance(result, PostbackIssue)
    assert result.reason == "missing_payout"
    assert result.detail.startswith("payout")
    assert result.offer_id == "fitness"


def test_missing_payout_issue_keeps_the_raw_postback() -> None:
    postback = samples.postback(payout=None)
    result = join(samples.click(), postback)
    assert isinstance(result, PostbackIssue)
    assert orjson.loads(result.raw) == to_dict(postback)
    assert decode(Postback, result.raw) == postback


def test_issue_for_fields() -> None:
    postback = samples.postback()
    issue = issue_for(postback, "unknown_click", "click_id: no such click")
    assert issue == PostbackIssue(
        postback_id=postback.postback_id,
        reason="unknown_click",
        detail="click_id: no such click",
        received_at=postback.received_at,
        click_id=postback.click_id,
        offer_id="",
        event=postback.event,
        receipt=postback.receipt,
        raw=issue.raw,
    )
    assert orjson.loads(issue.raw)["payout"] == "12.345678"


def test_issue_for_with_offer() -> None:
    assert issue_for(samples.postback(), "r", "d", offer_id="keto").offer_id == "keto"
