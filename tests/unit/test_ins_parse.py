"""services.receiver.ins_parse: INS v8 decryption and transactionType -> event mapping."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from hopstream.receiver_sections import ClickBankAccount
from services.receiver.ins_parse import decrypt, to_postback_params
from services.receiver.postback_parse import Rejection
from tests.clickbank import SECRET, encrypt, sale

KEY = ClickBankAccount("store", SECRET).ins_key


def body(notification: object, secret: str = SECRET, pad: str = "pkcs7") -> bytes:
    return json.dumps(encrypt(notification, secret, pad)).encode()  # type: ignore[arg-type]


def test_key_is_first_32_hex_digits_of_sha1_of_the_secret() -> None:
    # `printf MYSECRETKEY12345 | sha1sum | cut -c1-32`
    assert KEY == b"d2a7e4eb3a41246cfe113c7f37a17c36"


@pytest.mark.parametrize("pad", ["pkcs7", "nul"])
def test_decrypts_and_keeps_amounts_exact(pad: str) -> None:
    notification = decrypt(body(sale(), pad=pad), KEY)
    assert notification.data["receipt"] == "P3RGBKGB"
    assert notification.data["totalAccountAmount"] == Decimal("37.45")


def test_kept_text_leaves_out_the_buyer() -> None:
    text = decrypt(body(sale()), KEY).text
    assert "jane@example.com" not in text and "Doe" not in text
    assert json.loads(text)["receipt"] == "P3RGBKGB"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "not JSON"),
        (b'{"notification": 1, "iv": "x"}', "string"),
        (b'{"notification": "@@@", "iv": "AAAA"}', "base64"),
        (b'{"notification": "AAAA", "iv": "AAAA"}', "sizes"),
    ],
)
def test_malformed_envelopes_are_undecryptable(raw: bytes, says: str) -> None:
    with pytest.raises(Rejection) as info:
        decrypt(raw, KEY)
    assert info.value.reason == "undecryptable"
    assert says in info.value.detail


def test_wrong_secret_is_undecryptable() -> None:
    with pytest.raises(Rejection) as info:
        decrypt(body(sale(), secret="OTHERSECRET"), KEY)
    assert info.value.reason == "undecryptable"
    assert "secret key" in info.value.detail


@pytest.mark.parametrize(
    ("changes", "event"),
    [
        ({}, "purchase"),
        ({"upsell": {"upsellOriginalReceipt": "ORIG1234", "upsellFlowId": 5}}, "upsell"),
        ({"upsell": {"upsellOriginalReceipt": ""}}, "purchase"),
        ({"transactionType": "BILL", "receipt": "P3RGBKGB-B002"}, "rebill"),
        ({"transactionType": "RFND", "totalAccountAmount": -37.45}, "refund"),
        ({"transactionType": "CGBK"}, "chargeback"),
    ],
)
def test_transaction_types_become_events(changes: dict[str, object], event: str) -> None:
    data = decrypt(body(sale(**changes)), KEY).data
    mapped = to_postback_params(data, "store")
    assert mapped.record_reason is None
    assert mapped.params["event_parameter"] == event
    assert mapped.params["click_id"] == "0190f1a2b3c47d8e9fa0b1c2d3e4f5a6"
    assert mapped.params["payout"] == str(data["totalAccountAmount"])
    assert mapped.params["receipt"] == data["receipt"]
    assert mapped.params["currency"] == "USD"
    assert mapped.params["ins_account"] == "store"
    assert mapped.params["transactionType"] == data["transactionType"]


def test_first_tracking_code_is_the_click() -> None:
    mapped = to_postback_params(sale(trackingCodes=["abc", "def"]), "store")
    assert (mapped.params["click_id"], mapped.params["trackingCodes"]) == ("abc", "abc,def")


@pytest.mark.parametrize("kind", ["TEST", "TEST_SALE", "TEST_BILL", "TEST_RFND"])
def test_test_types_are_recorded_as_test(kind: str) -> None:
    mapped = to_postback_params(sale(transactionType=kind), "store")
    assert mapped.record_reason == "test"
    assert kind in mapped.detail


@pytest.mark.parametrize("kind", ["INSF", "CANCEL-REBILL", "ABANDONED_ORDER", ""])
def test_other_types_are_not_conversions(kind: str) -> None:
    assert to_postback_params(sale(transactionType=kind), "store").record_reason == (
        "not_a_conversion")


def test_a_sale_without_tracking_code_is_invalid() -> None:
    with pytest.raises(Rejection) as info:
        to_postback_params(sale(trackingCodes=[]), "store")
    assert info.value.reason == "invalid"
    assert info.value.detail.startswith("trackingCodes")
    assert info.value.receipt == "P3RGBKGB"
