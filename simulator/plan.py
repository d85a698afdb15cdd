"""What the simulator will send: visits (a click and the requests that follow it).

Pure logic, seeded: the same settings and seed give the same plan. A visit is a click on
an offer with tracking parameters, then the funnel's postbacks in order (order form
impression, purchase, upsell, rebills, refund), each possibly retried (a duplicate), plus
what real traffic gets wrong: unsubstituted macros, bad tokens, oversized requests, INS
test notifications, and postbacks for click ids that were never clicked.

A funnel step is sent for an offer only if one of its payout rules names that event, or
if it is the purchase: an affiliate sets up postback URLs for the events an offer pays or
counts, and a `*` rule is a fallback, not an invitation to send every event.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from decimal import Decimal

from hopstream.settings import Settings, SettingsError, parse_weights
from schemas.messages import Offer

SOURCES = ["facebook", "google", "tiktok", "native", "email"]
CAMPAIGNS = ["spring_sale", "retarget", "lookalike", "broad", "brand"]
CREATIVES = ["video_a", "video_b", "image_1", "image_2", "carousel"]
CENTS = Decimal("0.01")
EVENTS = {"impression": "order_form_impression", "purchase": "purchase", "upsell": "upsell",
          "rebill": "rebill", "refund": "refund"}


@dataclass(frozen=True, slots=True)
class Send:
    """One request after the click. `kind` is what it is: a `postback` or `ins` report of
    `event`, or a fault (`macro`, `bad_token`, `too_large`, `ins_test`)."""

    kind: str
    event: str = ""
    payout: Decimal | None = None
    receipt: str = ""
    original_receipt: str = ""  # an upsell's sale (INS links them)
    retry: bool = False         # a repeat of the request before it


@dataclass(slots=True)
class Visit:
    at: float  # seconds after the start
    offer: Offer
    params: dict[str, str]
    sends: list[Send] = field(default_factory=list)
    clicked: bool = True  # False: the postbacks name a click id that was never clicked


def funnel(settings: Settings) -> dict[str, float]:
    return {step: 0.0 for step in EVENTS} | parse_weights(settings.simulate_funnel)


def faults(settings: Settings) -> dict[str, float]:
    return {kind: 0.0 for kind in ("duplicate", "macro", "bad_token", "unknown_click",
                                   "too_large", "ins", "ins_test")} | parse_weights(
        settings.simulate_faults)


def offer_mix(settings: Settings, offers: dict[str, Offer]) -> dict[str, float]:
    """Offer id -> weight; SettingsError names an id the offers file does not have."""
    mix = parse_weights(settings.simulate_offers) or dict.fromkeys(offers, 1.0)
    unknown = sorted(set(mix) - set(offers))
    if unknown:
        raise SettingsError(f"HOPSTREAM_SIMULATE_OFFERS: not in the offers file: "
                         f"{', '.join(unknown)} (offers: {', '.join(offers)})")
    return {k: v for k, v in mix.items() if v > 0}


def tracked_events(offer: Offer) -> set[str]:
    return {rule.event for rule in offer.payouts if rule.event != "*"} | {"purchase"}


class Planner:
    def __init__(self, settings: Settings, offers: dict[str, Offer], seed: int,
                 ins: bool = True) -> None:
        """`ins`: the offers file has a ClickBank account to send INS notifications to."""
        self.rng = random.Random(seed)
        self.funnel = funnel(settings)
        self.faults = faults(settings)
        if not ins:
            self.faults["ins"] = self.faults["ins_test"] = 0.0
        mix = offer_mix(settings, offers)
        self.offers = [offers[k] for k in mix]
        self.weights = list(mix.values())
        # Each offer's typical commission, so that payout per offer differs visibly.
        self.price = {o.id: Decimal(self.rng.randrange(2500, 9000)) / 100 for o in self.offers}

    def visits(self, rate: float, duration_s: float) -> list[Visit]:
        count = max(1, round(rate * duration_s))
        return [self.visit(i / rate) for i in range(count)]

    def visit(self, at: float) -> Visit:
        rng, faults = self.rng, self.faults
        offer = rng.choices(self.offers, self.weights)[0]
        params = {"traffic_source": rng.choice(SOURCES), "campaign": rng.choice(CAMPAIGNS),
                  "creative": rng.choice(CREATIVES)}
        visit = Visit(at, offer, params, clicked=rng.random() >= faults["unknown_click"])
        if not visit.clicked:
            visit.sends.append(self._report(offer, "purchase", self._receipt(),
                                            self._amount(offer)))
            return visit
        self._funnel(visit)
        for kind in ("macro", "bad_token", "too_large", "ins_test"):
            if rng.random() < faults[kind]:
                visit.sends.append(Send(kind, event="purchase"))
        return visit

    def _funnel(self, visit: Visit) -> None:
        rng, p, offer = self.rng, self.funnel, visit.offer
        events = tracked_events(offer)
        if rng.random() >= p["impression"]:
            return
        if "order_form_impression" in events:
            self._add(visit, Send("postback", "order_form_impression"))
        if rng.random() >= p["purchase"]:
            return
        receipt, amount = self._receipt(), self._amount(offer)
        self._add(visit, self._report(offer, "purchase", receipt, amount))
        if "upsell" in events and rng.random() < p["upsell"]:
            self._add(visit, self._report(offer, "upsell", self._receipt(),
                                          (self._amount(offer) / 2).quantize(CENTS),
                                          original=receipt))
        if "rebill" in events:
            for n in (2, 3):
                if rng.random() >= p["rebill"]:
                    break
                self._add(visit, self._report(offer, "rebill", f"{receipt}-B{n:03d}",
                                              self._amount(offer)))
        if "refund" in events and rng.random() < p["refund"]:
            # ClickBank reports a refund as a negative amount; the reversal rule credits
            # minus what the receipt still has, whatever the amount says.
            self._add(visit, self._report(offer, "refund", receipt, -amount))

    def _add(self, visit: Visit, send: Send) -> None:
        visit.sends.append(send)
        if self.rng.random() < self.faults["duplicate"]:
            visit.sends.append(Send(send.kind, send.event, send.payout, send.receipt,
                                    send.original_receipt, retry=True))

    def _report(self, offer: Offer, event: str, receipt: str, payout: Decimal | None,
                original: str = "") -> Send:
        # INS carries no postback token: offers that require one get postbacks only.
        by_ins = offer.postback_token is None and self.rng.random() < self.faults["ins"]
        kind = "ins" if by_ins else "postback"
        return Send(kind, event, payout, receipt, original)

    def _amount(self, offer: Offer) -> Decimal:
        cents = self.rng.randrange(-500, 501)
        return (self.price[offer.id] + Decimal(cents) / 100).quantize(CENTS)

    def _receipt(self) -> str:
        return "".join(self.rng.choices(string.ascii_uppercase + string.digits, k=8))
