"""streams.join: a postback becomes exactly one Conversion or PostbackIssue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson

from schemas.codec import decode, to_dict
from schemas.messages import Conversion, Offer, PayoutRule, Postback, PostbackIssue
from streams.join import issue_for, settle
from streams.ledger import Ledger

from . import samples

NOW_MS = 1_700_000_000_000


def _settle(ledger: Ledger | None = None, offer: Offer | None = None, click: Any = "default",
            **postback_changes: Any) -> Conversion | PostbackIssue:
    result = settle(samples.click() if click == "default" else click,
                    offer or samples.offer(), samples.postback(**postback_changes),
                    ledger if ledger is not None else Ledger(), NOW_MS)
    assert result is not None  # final by default: always decided
    return result


def _conversion(**kwargs: Any) -> Conversion:
    result = _settle(**kwargs)
    assert isinstance(result, Conversion), result
    return result


def _reason(**kwargs: Any) -> str:
    result = _settle(**kwargs)
    assert isinstance(result, PostbackIssue), result
    return result.reason


def test_conversion_copies_click_dimensions_and_postback_facts() -> None:
    click, postback = samples.click(), samples.postback()
    conversion = _conversion()
    assert (conversion.click_id, conversion.offer_id, conversion.clicked_at) == (
        click.click_id, click.offer_id, click.clicked_at)
    assert (conversion.traffic_source, conversion.campaign, conversion.creative) == (
        "facebook", "spring sale", "banner-7")
    assert (conversion.postback_id, conversion.event, conversion.receipt,
            conversion.currency) == (postback.postback_id, "purchase", "ABCD1234", "USD")
    assert conversion.converted_at == samples.RECEIVED_AT
    assert conversion.rule == "purchase: postback"


def test_payout_is_exact() -> None:
    payout = _conversion(payout=Decimal("12.345678")).payout
    assert isinstance(payout, Decimal) and str(payout) == "12.345678"


def test_reason_codes() -> None:
    assert _reason(click=None) == "unknown_click"
    unknown = settle(samples.click(), None, samples.postback(), Ledger(), NOW_MS)
    assert isinstance(unknown, PostbackIssue) and unknown.reason == "unknown_offer"
    assert _reason(token="wrong") == "bad_token"
    assert _reason(token="") == "bad_token"
    assert _reason(offer=samples.offer(payouts=[PayoutRule(event="upsell", payout="kpi")])
                   ) == "no_rule"
    assert _reason(received_at=samples.CLICKED_AT + timedelta(days=31)) == "expired"
    assert _reason(payout=None) == "missing_payout"


def test_no_token_configured_accepts_any_token() -> None:
    assert _conversion(offer=samples.offer(postback_token=None), token="").payout


def test_click_dimensions_win_over_postback_params() -> None:
    conversion = settle(samples.click(traffic_source="tiktok"), samples.offer(),
                        samples.postback(params={"traffic_source": "spoofed"}), Ledger(), NOW_MS)
    assert isinstance(conversion, Conversion)
    assert conversion.traffic_source == "tiktok"


def test_same_receipt_and_event_counts_once() -> None:
    ledger = Ledger()
    _conversion(ledger=ledger)
    issue = _settle(ledger=ledger, postback_id="other")
    assert isinstance(issue, PostbackIssue) and issue.reason == "duplicate"
    assert issue.detail.startswith("receipt")


def test_non_recurrent_event_counts_once_per_click_recurrent_per_receipt() -> None:
    ledger = Ledger()
    _conversion(ledger=ledger)
    assert _reason(ledger=ledger, postback_id="p2", receipt="OTHER123") == "duplicate"
    assert _conversion(ledger=ledger, postback_id="u1", event="upsell", receipt="U1",
                       payout=Decimal("20")).payout == Decimal("10.000000")
    assert _conversion(ledger=ledger, postback_id="u2", event="upsell", receipt="U2",
                       payout=Decimal("20")).payout == Decimal("10.000000")


def test_reverse_takes_back_what_the_receipt_earned_once() -> None:
    offer = samples.offer(payouts=[*samples.offer().payouts[:2],
                                   PayoutRule(event="refund", payout="reverse")])
    ledger = Ledger()
    _conversion(ledger=ledger, offer=offer, event="upsell", receipt="U1", payout=Decimal("20"))
    refund = _conversion(ledger=ledger, offer=offer, postback_id="r1", event="refund",
                         receipt="U1", payout=None)
    assert refund.payout == Decimal("-10.000000")
    assert refund.rule == "refund: reverse"
    assert ledger.still_credited("U1") == 0
    assert _reason(ledger=ledger, offer=offer, postback_id="r2", event="refund",
                   receipt="U1") == "duplicate"
    assert _reason(ledger=ledger, offer=offer, postback_id="r3", event="refund",
                   receipt="NEVER") == "nothing_to_reverse"


def test_reversal_is_not_bounded_by_the_attribution_window() -> None:
    offer = samples.offer(payouts=[PayoutRule(event="purchase", payout="postback"),
                                   PayoutRule(event="refund", payout="reverse")])
    ledger = Ledger()
    _conversion(ledger=ledger, offer=offer)
    late = samples.CLICKED_AT + timedelta(days=90)
    assert _conversion(ledger=ledger, offer=offer, postback_id="r", event="refund",
                       received_at=late).payout == Decimal("-12.345678")


def test_a_decided_postback_gets_the_same_decision_again() -> None:
    ledger = Ledger()
    first = _conversion(ledger=ledger)
    # Replayed after a crash, even after a rule change: the same conversion, not a duplicate.
    again = _settle(ledger=Ledger.decode(ledger.encode()),
                    offer=samples.offer(payouts=[PayoutRule(event="*", payout="1.00")]))
    assert again == first


def test_missing_payout_issue_keeps_the_raw_postback() -> None:
    postback = samples.postback(payout=None)
    result = settle(samples.click(offer_id="fitness"), samples.offer(), postback, Ledger(),
                    NOW_MS)
    assert isinstance(result, PostbackIssue)
    assert result.detail.startswith("payout")
    assert result.offer_id == "fitness"
    assert orjson.loads(result.raw) == to_dict(postback)
    assert decode(Postback, result.raw) == postback


def test_issue_for_fields() -> None:
    postback = samples.postback()
    issue = issue_for(postback, "unknown_click", "click_id: no such click")
    assert issue == PostbackIssue(
        postback_id=postback.postback_id, reason="unknown_click",
        detail="click_id: no such click", received_at=postback.received_at,
        click_id=postback.click_id, offer_id="", event=postback.event,
        receipt=postback.receipt, raw=issue.raw,
    )
    assert orjson.loads(issue.raw)["payout"] == "12.345678"
    assert issue_for(postback, "r", "d", offer_id="keto").offer_id == "keto"


def test_an_ins_notification_needs_no_token_its_encryption_authenticates_it() -> None:
    # The offer has a postback_token (samples.offer); ClickBank cannot put it into an INS.
    conversion = _conversion(token="", ins_account="mystore")
    assert conversion.payout == samples.postback().payout
    # The same postback over HTTP, without the token, is refused.
    assert _reason(token="", ins_account="") == "bad_token"


def test_what_may_still_arrive_waits_until_the_grace_period_is_over() -> None:
    offer = samples.offer(payouts=[PayoutRule(event="purchase", payout="postback"),
                                   PayoutRule(event="refund", payout="reverse")])
    ledger = Ledger()
    early = [
        (None, offer, samples.postback()),  # the click may still come
        (samples.click(), None, samples.postback()),  # the offer may still be published
        (samples.click(), offer, samples.postback(event="refund", receipt="LATER001")),
    ]
    for click, offer_, postback in early:
        assert settle(click, offer_, postback, ledger, NOW_MS, final=False) is None
    assert ledger.decisions == {} and ledger.credits == []  # nothing recorded while waiting
    # The sale arrives: the refund that waited for it reverses it.
    _conversion(ledger=ledger, offer=offer, postback_id="sale", receipt="LATER001")
    refund = settle(samples.click(), offer, early[2][2], ledger, NOW_MS, final=False)
    assert isinstance(refund, Conversion) and refund.payout == Decimal("-12.345678")
    # Grace over: the same early postbacks are decided for good.
    decided = [settle(c, o, p, Ledger(), NOW_MS, final=True) for c, o, p in early]
    assert [d.reason for d in decided if isinstance(d, PostbackIssue)] == [
        "unknown_click", "unknown_offer", "nothing_to_reverse"]


def test_a_reversal_of_a_receipt_already_reversed_does_not_wait() -> None:
    offer = samples.offer(payouts=[PayoutRule(event="purchase", payout="postback"),
                                   PayoutRule(event="refund", payout="reverse"),
                                   PayoutRule(event="chargeback", payout="reverse")])
    ledger = Ledger()
    _conversion(ledger=ledger, offer=offer)
    _conversion(ledger=ledger, offer=offer, postback_id="r1", event="refund", payout=None)
    chargeback = settle(samples.click(), offer, samples.postback(
        postback_id="c1", event="chargeback", payout=None), ledger, NOW_MS, final=False)
    assert isinstance(chargeback, PostbackIssue)
    assert chargeback.reason == "nothing_to_reverse"
    # Nor does one that names no receipt: nothing could ever match it.
    nameless = settle(samples.click(), offer, samples.postback(
        postback_id="c2", event="refund", receipt=""), Ledger(), NOW_MS, final=False)
    assert isinstance(nameless, PostbackIssue) and nameless.reason == "nothing_to_reverse"


def test_a_retired_offer_takes_no_new_sales_but_still_reverses_old_ones() -> None:
    offer = samples.offer(payouts=[PayoutRule(event="purchase", payout="postback"),
                                   PayoutRule(event="refund", payout="reverse")])
    ledger = Ledger()
    _conversion(ledger=ledger, offer=offer)
    offer.retired = True
    sale = settle(samples.click(), offer, samples.postback(postback_id="s2", receipt="NEW00001"),
                  ledger, NOW_MS, final=False)  # final at once: nothing to wait for
    assert isinstance(sale, PostbackIssue) and sale.reason == "unknown_offer"
    assert "retired" in sale.detail
    refund = _conversion(ledger=ledger, offer=offer, postback_id="r1", event="refund",
                         payout=None)
    assert refund.payout == Decimal("-12.345678")
