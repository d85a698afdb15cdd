"""Building ClickBank INS v8 notifications in tests, encrypted as ClickBank does.

Written from ClickBank's description (AES-256-CBC, PKCS#7, key = first 32 hex digits of
SHA-1(secret key) as ASCII), independently of the receiver's decryption code, so that a
test proves the two agree rather than that the code agrees with itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECRET = "MYSECRETKEY12345"


def encrypt(notification: dict[str, Any] | str, secret: str = SECRET,
            pad: str = "pkcs7") -> dict[str, str]:
    text = notification if isinstance(notification, str) else json.dumps(notification)
    key = hashlib.sha1(secret.encode()).hexdigest()[:32].encode()
    iv = os.urandom(16)
    plain = text.encode()
    if pad == "pkcs7":
        padder = padding.PKCS7(128).padder()
        plain = padder.update(plain) + padder.finalize()
    else:  # NUL padding, as some senders' sample code does
        plain += b"\0" * (-len(plain) % 16)
    encryptor = Cipher(algorithms.AES256(key), modes.CBC(iv)).encryptor()
    data = encryptor.update(plain) + encryptor.finalize()
    return {"notification": base64.b64encode(data).decode(), "iv": base64.b64encode(iv).decode()}


def sale(**changes: Any) -> dict[str, Any]:
    """A v8 SALE notification for an affiliate, shaped like ClickBank's documented sample."""
    notification: dict[str, Any] = {
        "transactionTime": "2024-05-03T08:30:15-07:00",
        "receipt": "P3RGBKGB",
        "transactionType": "SALE",
        "vendor": "ketovend",
        "affiliate": "myaffid",
        "role": "AFFILIATE",
        "totalAccountAmount": 37.45,
        "paymentMethod": "VISA",
        "totalOrderAmount": 49.95,
        "totalTaxAmount": 0.00,
        "totalShippingAmount": 0.00,
        "currency": "USD",
        "orderLanguage": "EN",
        "trackingCodes": ["0190f1a2b3c47d8e9fa0b1c2d3e4f5a6"],
        "lineItems": [{"itemNo": "1", "productTitle": "Keto Guide", "productPrice": 49.95,
                       "affiliatePayout": 37.45, "accountAmount": 37.45, "quantity": 1,
                       "recurring": False, "lineItemType": "ORIGINAL"}],
        "customer": {"billing": {"firstName": "Jane", "lastName": "Doe",
                                 "email": "jane@example.com"}},
        "upsell": None,
        "version": 8.0,
        "attemptCount": 1,
    }
    notification.update(changes)
    return notification
