"""services.receiver.postback_parse: request parameters -> Postback, or a coded Rejection."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from schemas.messages import Postback
from services.receiver.postback_parse import ALIASES, Rejection, parse_postback

RECEIVED_AT = datetime(2024, 5, 3, 8, 30, tzinfo=UTC)
CLICK = "0190f1a2b3c47d8e9fa0b1c2d3e4f5a6"


def parse(params: dict[str, str]) -> Postback:
    return parse_postback(
        params,
        postback_id="pb1",
        received_at=RECEIVED_AT,
        method="GET",
        path="/pb",
        source_ip="198.51.100.2",
        query_string="qs",
        body="",
    )


def reject(params: dict[str, str]) -> Rejection:
    with pytest.raises(Rejection) as info:
        parse(params)
    assert info.value.reason == "invalid"
    return info.value


def names(detail: str, field: str) -> bool:
    """The detail starts with the field's name (canonical or one of its aliases)."""
    return detail.split(":", 1)[0] in {field, *ALIASES[field]}


def valid(**changes: str) -> dict[str, str]:
    params = {"tid": CLICK, "event_parameter": "purchase"}
    params.update(changes)
    return params


@pytest.mark.parametrize("alias", ALIASES["click_id"])
def test_click_id_aliases(alias: str) -> None:
    assert parse({alias: CLICK, "event": "purchase"}).click_id == CLICK


@pytest.mark.parametrize("alias", ALIASES["event"])
def test_event_aliases(alias: str) -> None:
    assert parse({"tid": CLICK, alias: "upsell"}).event == "upsell"


@pytest.mark.parametrize("alias", ALIASES["payout"])
def test_payout_aliases(alias: str) -> None:
    assert parse(valid(**{alias: "4.20"})).payout == Decimal("4.20")


@pytest.mark.parametrize("alias", ALIASES["receipt"])
def test_receipt_aliases(alias: str) -> None:
    assert parse(valid(**{alias: "ABCD-1234"})).receipt == "ABCD-1234"


@pytest.mark.parametrize(
    ("field", "params", "expected"),
    [
        ("click_id", {"click_id": "aaa", "aggregated_id": "bbb", "tid": "ccc"}, "aaa"),
        ("click_id", {"trackingCodes": "ddd", "tid": "ccc"}, "ccc"),
        ("click_id", {"click_id": "", "tid": "ccc"}, "ccc"),
        ("event", {"event_type": "refund", "event_parameter": "purchase"}, "purchase"),
        ("receipt", {"transaction_id": "T1", "receipt": "R1"}, "R1"),
    ],
)
def test_first_alias_wins(field: str, params: dict[str, str], expected: str) -> None:
    base = {"tid": CLICK, "event": "purchase"} if field != "click_id" else {"event": "purchase"}
    postback = parse({**base, **params})
    assert getattr(postback, field) == expected


def test_first_payout_alias_wins() -> None:
    postback = parse(valid(affiliate_earnings="1.00", payout="2.00", affiliateEarnings="3.00"))
    assert postback.payout == Decimal("2.00")


def test_upper_case_click_id_is_lowercased() -> None:
    assert parse(valid(tid=CLICK.upper())).click_id == CLICK


def test_values_are_stripped() -> None:
    postback = parse({"tid": f" {CLICK} ", "event": " purchase ", "payout": " 1.50 "})
    assert (postback.click_id, postback.event, postback.payout) == (
        CLICK, "purchase", Decimal("1.50"))


def test_every_raw_parameter_is_kept() -> None:
    params = valid(payout="1.00", tid=CLICK.upper(), foo="bar", affiliateEarnings="9.99")
    postback = parse(params)
    assert postback.params == params
    assert postback.params is not params


def test_request_metadata_is_copied() -> None:
    postback = parse(valid())
    assert (postback.postback_id, postback.received_at, postback.method, postback.path,
            postback.source_ip, postback.query_string, postback.body) == (
        "pb1", RECEIVED_AT, "GET", "/pb", "198.51.100.2", "qs", "")


def test_optional_fields_default_to_empty() -> None:
    postback = parse(valid())
    assert (postback.payout, postback.receipt, postback.currency, postback.token) == (
        None, "", "", "")


def test_currency_is_upper_cased_and_token_kept() -> None:
    postback = parse(valid(currency="usd", token="s3cret"))
    assert (postback.currency, postback.token) == ("USD", "s3cret")


@pytest.mark.parametrize(
    "text", ["12.345678", "0.000001", "-12.50", "1000000", "-1000000", "0", "999999.999999"]
)
def test_payout_is_an_exact_decimal(text: str) -> None:
    payout = parse(valid(payout=text)).payout
    assert isinstance(payout, Decimal)
    assert payout == Decimal(text)
    assert str(payout) == text


def test_negative_payout_is_allowed_for_refunds() -> None:
    assert parse(valid(event_parameter="refund", payout="-37.00")).payout == Decimal("-37.00")


def test_click_id_of_100_characters_is_accepted() -> None:
    assert parse(valid(tid="a_" * 50)).click_id == "a_" * 50


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event": "purchase"}, "click_id"),
        ({"tid": "", "event": "purchase"}, "click_id"),
        ({"trackingCodes": "{trackingCodes}", "event": "purchase"}, "click_id"),
        (valid(tid="[tid]"), "click_id"),
        (valid(event_parameter="[event_name]"), "event"),
        (valid(event="{event}", event_parameter=""), "event"),
        (valid(payout="%%payout%%"), "payout"),
        (valid(affiliateEarnings="{affiliateEarnings}"), "payout"),
        (valid(receipt="{receipt}"), "receipt"),
        (valid(currency="%%currency%%"), "currency"),
        (valid(token="{token}"), "token"),
        (valid(tid="abc-def"), "click_id"),
        (valid(tid="abc def"), "click_id"),
        (valid(tid="abc.def"), "click_id"),
        (valid(tid="café"), "click_id"),
        (valid(tid="a" * 101), "click_id"),
        ({"tid": CLICK}, "event"),
        (valid(event_parameter="purchase now"), "event"),
        (valid(event_parameter="e" * 65), "event"),
        (valid(payout="abc"), "payout"),
        (valid(payout="1e5"), "payout"),
        (valid(payout="12.1234567"), "payout"),
        (valid(payout="1,50"), "payout"),
        (valid(payout="NaN"), "payout"),
        (valid(payout="2000000"), "payout"),
        (valid(payout="-2000000"), "payout"),
        (valid(payout="1000000.000001"), "payout"),
        (valid(currency="US"), "currency"),
        (valid(currency="USDX"), "currency"),
        (valid(currency="U5D"), "currency"),
        (valid(receipt="AB CD"), "receipt"),
        (valid(receipt="AB/CD"), "receipt"),
        (valid(receipt="R" * 65), "receipt"),
    ],
)
def test_rejection_names_the_field(params: dict[str, str], field: str) -> None:
    detail = reject(params).detail
    assert names(detail, field), detail


def test_macro_rejection_says_macro() -> None:
    assert "macro" in reject(valid(payout="%%payout%%")).detail


def test_out_of_range_rejection_says_range() -> None:
    assert "range" in reject(valid(payout="2000000")).detail


def test_rejection_carries_ids_for_the_issue_record() -> None:
    rejection = reject(valid(event_parameter="upsell", receipt="R1", payout="abc"))
    assert (rejection.click_id, rejection.event, rejection.receipt) == (CLICK, "upsell", "R1")


def test_rejection_of_a_bad_click_id_carries_it_raw() -> None:
    rejection = reject(valid(tid="not-a-tid"))
    assert rejection.click_id == "not-a-tid"
    assert rejection.event == "purchase"


def test_rejection_truncates_huge_values() -> None:
    rejection = reject(valid(tid="x-" * 500, receipt="R" * 500))
    assert len(rejection.click_id) <= 200
    assert len(rejection.receipt) <= 64
    assert len(rejection.detail) < 400


def test_rejection_is_an_exception() -> None:
    assert isinstance(reject({}), Exception)


@pytest.mark.parametrize("alias", ALIASES["vendor_earnings"])
def test_vendor_earnings_aliases_are_exact_decimals(alias: str) -> None:
    assert parse(valid(**{alias: "12.345"})).vendor_earnings == Decimal("12.345")


def test_vendor_earnings_and_advertiser_id_default_to_empty() -> None:
    postback = parse(valid())
    assert (postback.vendor_earnings, postback.advertiser_id) == (None, "")


def test_advertiser_id_is_kept() -> None:
    assert parse(valid(advertiser_id="adv-42")).advertiser_id == "adv-42"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (valid(vendorEarnings="12,50"), "vendor_earnings"),
        (valid(vendor_earnings="{vendorEarnings}"), "vendor_earnings"),
        (valid(advertiser_id="a b"), "advertiser_id"),
    ],
)
def test_vendor_earnings_and_advertiser_rejections(params: dict[str, str], field: str) -> None:
    assert names(reject(params).detail, field)


def test_a_parameter_cannot_claim_ins_authentication() -> None:
    # Only the INS route (after decryption) sets ins_account, which waives the token.
    postback = parse(valid(ins_account="mystore"))
    assert postback.ins_account == ""
    assert postback.params["ins_account"] == "mystore"  # kept as received, nothing more
