"""An offer's payout rules: which rule a postback matches, and what that rule pays.

Pure logic. Rules are checked top-down, first match wins; `*` matches any event. The
payout kinds (validated on load by `hopstream.offers`):

- `postback`: the postback's own payout (none -> `missing_payout`);
- a fixed decimal, e.g. `"10.00"`;
- a percentage of the postback's payout, e.g. `"50%"` (none -> `missing_payout`);
- `kpi`: counted as a conversion paying 0 (analytics events such as order form impressions);
- `reverse`: minus what is still credited for the receipt the postback names (refunds,
  chargebacks); nothing credited -> `nothing_to_reverse`.

Amounts are Decimal throughout. A percentage can produce more decimal places than the
contracts carry (6, like ClickHouse's Decimal(18, 6)), so it is rounded half-even to 6
places: the same rounding every time, so replays price identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from schemas.messages import Offer, PayoutRule, Postback

MONEY_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule matched but cannot price this postback: becomes a postback issue."""

    reason: str
    detail: str


def match_rule(offer: Offer, event: str) -> PayoutRule | None:
    for rule in offer.payouts:
        if rule.event in ("*", event):
            return rule
    return None


def describe(rule: PayoutRule) -> str:
    """`event: payout[, recurrent]`, how a rule is named on conversions and in issues."""
    return f"{rule.event}: {rule.payout}" + (", recurrent" if rule.recurrent else "")


def is_reversal(rule: PayoutRule) -> bool:
    return rule.payout == "reverse"


def price(rule: PayoutRule, postback: Postback, still_credited: Decimal) -> Decimal | Refusal:
    """What `rule` pays for `postback`; `still_credited` is the receipt's net credit so far
    on this click (only `reverse` uses it)."""
    kind = rule.payout
    if kind == "kpi":
        return Decimal(0)
    if kind == "reverse":
        if not postback.receipt:
            return Refusal("nothing_to_reverse",
                           "receipt: a reversal must name the receipt it reverses")
        if still_credited <= 0:
            return Refusal(
                "nothing_to_reverse",
                f"receipt: nothing is credited for receipt {postback.receipt!r} on this click",
            )
        return -still_credited
    if kind == "postback" or kind.endswith("%"):
        if postback.payout is None:
            return Refusal(
                "missing_payout",
                f"payout: rule `{describe(rule)}` pays from the postback's payout, and this "
                "postback carries none",
            )
        if kind == "postback":
            return postback.payout
        share = Decimal(kind[:-1]) / 100
        return (postback.payout * share).quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN)
    return Decimal(kind)
