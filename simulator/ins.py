"""ClickBank INS v8 notifications as the simulator sends them, encrypted as ClickBank does.

AES-256-CBC with PKCS#7 padding; the key is the first 32 hex digits of SHA-1(the account's
secret key) as ASCII (`ClickBankAccount.ins_key`, the receiver's own key derivation); the
body is `{"notification": BASE64, "iv": BASE64}`. Amounts are JSON numbers, as ClickBank
sends them, written from the Decimal's text so they stay exact.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from simulator.plan import Send

TRANSACTION_TYPES = {"purchase": "SALE", "upsell": "SALE", "rebill": "BILL", "refund": "RFND"}


def notification(send: Send, click_id: str, vendor: str) -> str:
    """The plaintext JSON of a v8 notification reporting `send` for `click_id`."""
    test = send.kind == "ins_test"
    amount = "0.00" if test or send.payout is None else str(send.payout)
    fields: dict[str, Any] = {
        "transactionTime": datetime.now(UTC).isoformat(timespec="seconds"),
        "receipt": send.receipt or "TESTRCPT",
        "transactionType": "TEST" if test else TRANSACTION_TYPES[send.event],
        "vendor": vendor, "affiliate": "hopstreamsim", "role": "AFFILIATE",
        "totalAccountAmount": "@AMOUNT@",
        "paymentMethod": "VISA", "currency": "USD",
        "trackingCodes": [click_id],
        "upsell": ({"upsellOriginalReceipt": send.original_receipt}
                   if send.original_receipt else None),
        "version": 8.0, "attemptCount": 2 if send.retry else 1,
    }
    # A JSON number with exactly the Decimal's digits (json would go through float).
    return json.dumps(fields).replace('"@AMOUNT@"', amount)


def encrypt(text: str, key: bytes) -> bytes:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(text.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES256(key), modes.CBC(iv)).encryptor()
    data = encryptor.update(plain) + encryptor.finalize()
    return json.dumps({"notification": base64.b64encode(data).decode(),
                       "iv": base64.b64encode(iv).decode()}).encode()
