"""The message contracts: what travels on each Kafka topic (see `schemas.topics`).

These dataclasses are the source of truth; `schemas/json/*.json` are generated from them
(`hopstream schemas --write`) and a test keeps the two in step. Data engineers read the
JSON files; Python code imports these classes and uses `schemas.codec` to (de)serialize.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from schemas.codec import doc


@dataclass(slots=True, kw_only=True)
class Click:
    click_id: str = doc("32 lowercase hex characters, time-ordered (UUIDv7); sent as `tid`.")
    offer_id: str = doc("The offer the visitor was sent to.")
    clicked_at: datetime = doc("When the receiver answered the click (UTC).")
    traffic_source: str = doc("`traffic_source` query parameter, empty if absent.", default="")
    campaign: str = doc("`campaign` query parameter, empty if absent.", default="")
    creative: str = doc("`creative` query parameter, empty if absent.", default="")
    # The rest of ClickBank's affiliate tracking parameters (HopLink, since June 2024): one
    # field each, so analysts and consumers get named, documented columns.
    traffic_type: str = doc("`traffic_type` query parameter, empty if absent.", default="")
    offer: str = doc("`offer` query parameter, empty if absent.", default="")
    adgroup: str = doc("`adgroup` query parameter, empty if absent.", default="")
    ad: str = doc("`ad` query parameter, empty if absent.", default="")
    aff_sub1: str = doc("`aff_sub1` query parameter, empty if absent.", default="")
    aff_sub2: str = doc("`aff_sub2` query parameter, empty if absent.", default="")
    aff_sub3: str = doc("`aff_sub3` query parameter, empty if absent.", default="")
    aff_sub4: str = doc("`aff_sub4` query parameter, empty if absent.", default="")
    aff_sub5: str = doc("`aff_sub5` query parameter, empty if absent.", default="")
    network_aff: str = doc("`network_aff` query parameter, empty if absent.", default="")
    extclid: str = doc("`extclid` (unique) query parameter, empty if absent.", default="")
    fbclid: str = doc("`fbclid` (unique) query parameter, empty if absent.", default="")
    gclid: str = doc("`gclid` (unique) query parameter, empty if absent.", default="")
    contact_id: str = doc("`contact_id` (unique) query parameter, empty if absent.", default="")
    unique_aff_sub1: str = doc("`unique_aff_sub1` query parameter, empty if absent.", default="")
    unique_aff_sub2: str = doc("`unique_aff_sub2` query parameter, empty if absent.", default="")
    unique_aff_sub3: str = doc("`unique_aff_sub3` query parameter, empty if absent.", default="")
    unique_aff_sub4: str = doc("`unique_aff_sub4` query parameter, empty if absent.", default="")
    unique_aff_sub5: str = doc("`unique_aff_sub5` query parameter, empty if absent.", default="")
    ip: str = doc("Visitor's address (behind trusted proxies: from X-Forwarded-For).", default="")
    user_agent: str = doc("User-Agent header.", default="")
    referer: str = doc("Referer header.", default="")
    params: dict[str, str] = doc(
        "Every query parameter of the click (first value of each).", default_factory=dict
    )
    query_string: str = doc("The raw query string, exactly as received.", default="")
    schema_version: int = 1


@dataclass(slots=True, kw_only=True)
class Postback:
    postback_id: str = doc("Assigned by the receiver (UUIDv7 hex); unique per request.")
    received_at: datetime = doc("When the receiver accepted it (UTC).")
    click_id: str = doc("The click id the postback names (`click_id`, `tid`, ...).")
    event: str = doc("The event it reports (`event_parameter`), e.g. purchase, upsell.")
    payout: Decimal | None = doc("Payout the postback carries, if any (decimal string).")
    receipt: str = doc("ClickBank receipt / transaction id, empty if absent.", default="")
    currency: str = doc("Currency code sent with the payout, empty if absent.", default="")
    token: str = doc("The `token` parameter, empty if absent.", default="")
    vendor_earnings: Decimal | None = doc(
        "`vendor_earnings` / `vendorEarnings` if sent (decimal string), else null.", default=None
    )
    advertiser_id: str = doc("`advertiser_id` parameter, empty if absent.", default="")
    method: str = doc("HTTP method of the request.", default="GET")
    path: str = doc("Request path.", default="")
    source_ip: str = doc("Address the request came from.", default="")
    params: dict[str, str] = doc(
        "Every query and body parameter (first value of each).", default_factory=dict
    )
    query_string: str = doc("The raw query string, exactly as received.", default="")
    body: str = doc("The raw request body (UTF-8, replacement for bad bytes).", default="")
    ins_account: str = doc(
        "ClickBank account whose INS secret decrypted this notification: the sender is "
        "authenticated, so the offer's postback_token is not asked for. Empty for HTTP "
        "postbacks; set only by the receiver's INS route, never from a parameter.",
        default="",
    )
    schema_version: int = 1


@dataclass(slots=True, kw_only=True)
class Conversion:
    postback_id: str = doc("The postback this conversion came from; unique per conversion.")
    click_id: str = doc("The click it is credited to.")
    offer_id: str = doc("The click's offer.")
    event: str = doc("The event credited (purchase, upsell, rebill, refund, ...).")
    receipt: str = doc("ClickBank receipt, empty if the postback had none.")
    payout: Decimal = doc("Amount credited (decimal string; negative for reversals).")
    currency: str = doc("Currency of the payout, empty if unknown.")
    converted_at: datetime = doc("When the postback was received (UTC).")
    clicked_at: datetime = doc("When the click happened (UTC).")
    traffic_source: str = doc("Copied from the click.", default="")
    campaign: str = doc("Copied from the click.", default="")
    creative: str = doc("Copied from the click.", default="")
    rule: str = doc(
        "The offer's payout rule that priced it, as `event: payout[, recurrent]` "
        "(e.g. `upsell: 50%, recurrent`); empty if unknown.",
        default="",
    )
    schema_version: int = 1


@dataclass(slots=True, kw_only=True)
class PostbackIssue:
    postback_id: str = doc("The postback (or rejected request) this issue is about.")
    reason: str = doc(
        "Reason code (README, \"Reason codes\"): invalid, unknown_click, unknown_offer, "
        "bad_token, no_rule, expired, duplicate, missing_payout, nothing_to_reverse, "
        "processing_error."
    )
    detail: str = doc("Human-readable explanation naming the offending field.")
    received_at: datetime = doc("When the receiver got the request (UTC).")
    click_id: str = doc("Click id named by the request, empty if none.", default="")
    offer_id: str = doc("The click's offer, empty if unknown.", default="")
    event: str = doc("Event named by the request, empty if none.", default="")
    receipt: str = doc("Receipt named by the request, empty if none.", default="")
    raw: str = doc("The request or postback as received (JSON text).", default="")
    schema_version: int = 1


@dataclass(slots=True, kw_only=True)
class PayoutRule:
    event: str = doc("Event this rule matches; `*` matches any.")
    payout: str = doc("`postback`, a fixed decimal, a percentage like `50%`, `kpi` or `reverse`.")
    recurrent: bool = doc("Several conversions of this event per click allowed.", default=False)


@dataclass(slots=True, kw_only=True)
class Offer:
    id: str = doc("Offer id, used in click URLs: /c/{id}.")
    tracking_url: str = doc("HopLink the visitor is redirected to; `{click_id}` is substituted.")
    postback_token: str | None = doc("Token postbacks for this offer must carry.", default=None)
    attribution_window_days: int = doc("Days after the click a sale is credited.", default=60)
    payouts: list[PayoutRule] = doc("Payout rules, first match wins.", default_factory=list)
    retired: bool = doc(
        "Removed from the offers file (`offers apply --prune`): new postbacks are "
        "`unknown_offer`, but its `reverse` rules still reverse earlier credits (refunds and "
        "chargebacks come months after a sale).", default=False)
    schema_version: int = field(default=1)


@dataclass(slots=True, kw_only=True)
class SinkReject:
    source_topic: str = doc("Topic the refused message was read from.")
    source_partition: int = doc("Its partition.")
    source_offset: int = doc("Its offset: (topic, partition, offset) identifies a reject.")
    key: str = doc("The message key (UTF-8; invalid bytes replaced), empty if none.", default="")
    value: str = doc(
        "The message value (UTF-8; invalid bytes replaced). The source topic keeps the "
        "exact bytes.", default=""
    )
    stage: str = doc("`decode`: not a valid message; `insert`: ClickHouse refused the row.")
    error: str = doc("The error, as the decoder or ClickHouse worded it.")
    rejected_at: datetime = doc("When the sink refused it (UTC).")
    schema_version: int = 1
