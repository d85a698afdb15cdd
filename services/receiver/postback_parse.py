"""Turning a postback request's parameters into a `Postback`, or a coded rejection.

Pure logic (no I/O), so every rule here is unit-tested directly. ClickBank and the trackers
in front of it spell the same parameter several ways; the first alias present wins, and all
raw parameters are kept on the message regardless.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from schemas.messages import Postback

ALIASES: dict[str, tuple[str, ...]] = {
    "click_id": ("click_id", "aggregated_id", "tid", "trackingCodes"),
    "event": ("event_parameter", "event", "event_type"),
    "payout": ("payout", "affiliateEarnings", "affiliate_earnings"),
    "receipt": ("receipt", "receipt_id", "transaction_id"),
    "currency": ("currency",),
    "token": ("token",),
    "vendor_earnings": ("vendor_earnings", "vendorEarnings"),
    "advertiser_id": ("advertiser_id",),
}

# ClickBank's tid rule: up to 100 digits, lowercase letters and underscores.
CLICK_ID = re.compile(r"^[a-z0-9_]{1,100}$")
EVENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
RECEIPT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CURRENCY = re.compile(r"^[A-Za-z]{3}$")
DECIMAL = re.compile(r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$")
# A macro the sender forgot to substitute: {trackingCodes}, [event_name], %%payout%%.
MACRO = re.compile(r"[{}\[\]]|%%")
MAX_PAYOUT = Decimal("1000000")


@dataclass(frozen=True, slots=True)
class Rejection(Exception):
    reason: str  # a reason code: invalid, ...
    detail: str  # names the parameter and what is wrong with it
    click_id: str = ""
    event: str = ""
    receipt: str = ""


def pick(params: Mapping[str, str], field: str) -> str:
    return pick_named(params, field)[1]


def pick_named(params: Mapping[str, str], field: str) -> tuple[str, str]:
    """(the parameter name used, its value); the canonical name and "" when absent."""
    for alias in ALIASES[field]:
        value = params.get(alias)
        if value is not None and value != "":
            return alias, value.strip()
    return ALIASES[field][0], ""


def parse_postback(
    params: Mapping[str, str],
    *,
    postback_id: str,
    received_at: datetime,
    method: str,
    path: str,
    source_ip: str,
    query_string: str,
    body: str,
    ins_account: str = "",
) -> Postback:
    """The Postback these parameters describe; raises Rejection when they are bad input."""
    # Every alias is looked up once: this runs for every postback, at high volume.
    named = {field: pick_named(params, field) for field in ALIASES}
    raw_click_id, event, receipt = (named[f][1] for f in ("click_id", "event", "receipt"))
    # Some integrations upper-case the tid on its way back; ours are lowercase hex.
    click_id = raw_click_id.lower()

    def reject(detail: str) -> Rejection:
        return Rejection("invalid", detail, click_id=raw_click_id[:200], event=event[:64],
                         receipt=receipt[:64])

    for name, value in named.values():
        if MACRO.search(value):
            raise reject(f"{name}: {value[:100]!r} is an unsubstituted macro, not a value")
    if not click_id:
        raise reject("click_id: missing (send click_id, tid, aggregated_id or trackingCodes)")
    if not CLICK_ID.match(click_id):
        raise reject(
            f"click_id: {raw_click_id[:120]!r} is not a valid tid (1-100 characters of "
            "digits, lowercase letters and underscore)"
        )
    if not event:
        raise reject("event_parameter: missing (send event_parameter, event or event_type)")
    if not EVENT.match(event):
        raise reject(f"event_parameter: {event[:100]!r} is not an event name")
    if receipt and not RECEIPT.match(receipt):
        raise reject(f"receipt: {receipt[:100]!r} is not a receipt")
    currency = named["currency"][1].upper()
    if currency and not CURRENCY.match(currency):
        raise reject(f"currency: {currency[:20]!r} is not a three-letter currency code")
    payout = parse_payout(named["payout"][1], reject)
    vendor_name, vendor_text = named["vendor_earnings"]
    vendor_earnings = parse_payout(vendor_text, reject, name=vendor_name)
    advertiser_id = named["advertiser_id"][1]
    if advertiser_id and not RECEIPT.match(advertiser_id):
        raise reject(f"advertiser_id: {advertiser_id[:100]!r} is not an identifier")
    return Postback(
        postback_id=postback_id,
        received_at=received_at,
        click_id=click_id,
        event=event,
        payout=payout,
        receipt=receipt,
        currency=currency,
        token=named["token"][1],
        vendor_earnings=vendor_earnings,
        advertiser_id=advertiser_id,
        method=method,
        path=path,
        source_ip=source_ip,
        params=dict(params),
        query_string=query_string,
        body=body,
        ins_account=ins_account,
    )


def parse_payout(text: str, reject: Callable[[str], Rejection],
                 name: str = "payout") -> Decimal | None:
    if not text:
        return None
    if not DECIMAL.match(text):
        raise reject(f"{name}: {text[:50]!r} is not a decimal amount like 12.34")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise reject(f"{name}: {text[:50]!r} is not a decimal amount") from None
    if abs(amount) > MAX_PAYOUT:
        raise reject(f"{name}: {text} is out of range (at most {MAX_PAYOUT} in absolute value)")
    return amount


def rejection_for(reason: str, detail: str, params: Mapping[str, str]) -> Rejection:
    """A rejection decided before parsing (size, token, address), with the ids the request
    names, so that the issue record can still be found by click id."""
    return Rejection(reason, detail, click_id=pick(params, "click_id")[:200],
                     event=pick(params, "event")[:64], receipt=pick(params, "receipt")[:64])
