"""ClickBank Instant Notification Service (INS) v8: decrypt a notification, map it to an event.

Pure logic, unit-tested with notifications encrypted in the tests. The wire format:
body `{"notification": BASE64, "iv": BASE64}`, AES-256-CBC with PKCS#7 padding, key =
the first 32 hex digits of SHA-1(the account's secret key) used as ASCII bytes
(`ClickBankAccount.ins_key`). The plaintext is JSON; amounts are parsed as Decimal so they
stay exact. The buyer's personal data (`customer`) is dropped from what is kept.

`transactionType` decides what the notification becomes:
SALE -> `purchase` (or `upsell` when `upsell.upsellOriginalReceipt` names the original
sale), BILL -> `rebill`, RFND -> `refund`, CGBK -> `chargeback`. TEST types are recorded
with reason `test`; other types (INSF, CANCEL-REBILL, ...) carry no money for us and are
recorded with reason `not_a_conversion`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from services.receiver.postback_parse import Rejection

EVENTS = {"SALE": "purchase", "BILL": "rebill", "RFND": "refund", "CGBK": "chargeback"}


# The buyer's name, e-mail and addresses: not needed to attribute or price anything, so
# they never leave the receiver (kept messages and issue records omit them).
PERSONAL = ("customer",)


@dataclass(frozen=True, slots=True)
class Notification:
    data: dict[str, Any]  # the decrypted JSON, amounts as Decimal

    @property
    def text(self) -> str:
        """The notification as kept on messages: JSON without the buyer's personal data,
        amounts as decimal strings."""
        kept = {k: v for k, v in self.data.items() if k not in PERSONAL}
        return json.dumps(kept, default=str, separators=(",", ":"), ensure_ascii=False)


def decrypt(body: bytes, key: bytes) -> Notification:
    """The notification in an INS v8 body; Rejection("undecryptable") if it is not one."""
    def fail(why: str) -> Rejection:
        return Rejection("undecryptable", f"notification: {why}")

    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise fail("the body is not JSON {\"notification\": ..., \"iv\": ...}") from None
    if not isinstance(envelope, dict) or not all(
        isinstance(envelope.get(k), str) for k in ("notification", "iv")
    ):
        raise fail("the body must be a JSON object with string `notification` and `iv`")
    try:
        ciphertext = base64.b64decode(envelope["notification"], validate=True)
        iv = base64.b64decode(envelope["iv"], validate=True)
    except binascii.Error:
        raise fail("`notification` and `iv` must be base64") from None
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise fail("wrong sizes for AES-256-CBC (iv must be 16 bytes, data whole blocks)")
    decryptor = Cipher(algorithms.AES256(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        # Some senders pad with NULs or spaces instead of PKCS#7: tolerate that, the JSON
        # check below still tells a wrong key from a right one.
        plain = padded.rstrip(bytes(range(0, 33)))
    try:
        text = plain.decode("utf-8")
        data = json.loads(text, parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        raise fail("decrypts to garbage: wrong secret key for this account?") from None
    if not isinstance(data, dict):
        raise fail("the decrypted notification is not a JSON object")
    return Notification(data=data)


@dataclass(frozen=True, slots=True)
class Mapped:
    """Postback parameters for `parse_postback`, or the reason it is only recorded."""

    params: dict[str, str]
    record_reason: str | None  # `test`, `not_a_conversion`; None: a postback
    detail: str


def to_postback_params(data: dict[str, Any], account: str) -> Mapped:
    kind = str(data.get("transactionType", "")).upper()
    raw: dict[str, str] = {}
    for name, value in data.items():
        text = _text(value)
        if text is not None:
            raw[name] = text
    params = {**raw, "ins_account": account}
    tracking = data.get("trackingCodes")
    if isinstance(tracking, list) and tracking and isinstance(tracking[0], str):
        params["click_id"] = tracking[0]
        params["trackingCodes"] = ",".join(str(t) for t in tracking)
    upsell = data.get("upsell")
    original = upsell.get("upsellOriginalReceipt") if isinstance(upsell, dict) else None
    event = EVENTS.get(kind)
    if kind == "SALE" and original:
        event = "upsell"
        params["upsell_original_receipt"] = str(original)
    if "totalAccountAmount" in data:
        params["payout"] = raw.get("totalAccountAmount") or ""
    if event is not None:
        params["event_parameter"] = event
    if kind.startswith("TEST"):
        return Mapped(params, "test", f"transactionType {kind}: a ClickBank test notification")
    if event is None:
        return Mapped(params, "not_a_conversion",
                      f"transactionType {kind or '(missing)'} is not a sale, rebill, "
                      "refund or chargeback")
    if "click_id" not in params:
        raise Rejection("invalid", "trackingCodes: missing; the sale did not come through "
                        "a hopstream click (no tid on the HopLink)",
                        receipt=str(data.get("receipt", ""))[:64], event=event)
    return Mapped(params, None, "")


def _text(value: Any) -> str | None:
    """Scalars as text (Decimal exactly as sent); nested objects and lists are left out."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (str, int)):
        return str(value)
    return None
