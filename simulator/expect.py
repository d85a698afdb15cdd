"""What a plan should become: the totals a person holds against the dashboard.

Requests the receiver refuses are known from their kind (macro -> `invalid`, ...). Every
other report is decided with the worker's own rules (`streams.join.decide` on a ledger per
visit), from the offers of the same file the pipeline publishes: the expectation follows
the payout rules (kpi, fixed, percentage, reversals, recurrent events, duplicates) without
restating them here. Sends of one visit are decided in plan order, which is the order the
simulator sends them in (one visit's requests go one after the other).

Conversions are credits only, as the dashboards count them: a kpi event (payout 0) and a
reversal (a refund or chargeback) are conversion rows, not conversions; their payouts
(0, negative) still count. `kind` names that split for a rule, as ClickHouse derives it
from the rule's text (migration 0004; tests/integration/test_conversion_kinds.py checks
the two agree).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from schemas.messages import Click, PayoutRule, Postback
from simulator.plan import Send, Visit
from streams import rules
from streams.join import decide
from streams.ledger import Ledger

# Faults the receiver refuses, with the reason it records and the status it answers.
REFUSED = {"macro": ("invalid", 400), "bad_token": ("bad_token", 401),
           "too_large": ("too_large", 413), "ins_test": ("test", 200)}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int           # the receiver's answer
    reason: str = ""      # the issue it becomes, or "" for a conversion row
    payout: Decimal = Decimal(0)
    kind: str = ""        # a conversion row's kind (credit, kpi, reversal); "" for an issue


@dataclass(slots=True)
class Expected:
    clicks: Counter[str] = field(default_factory=Counter)        # per offer
    conversions: Counter[str] = field(default_factory=Counter)   # per offer, credits only
    payout: dict[str, Decimal] = field(default_factory=dict)     # per offer
    issues: Counter[str] = field(default_factory=Counter)        # per reason
    sent: Counter[str] = field(default_factory=Counter)          # per kind of request

    def add(self, visit: Visit, outcomes: list[Outcome]) -> None:
        offer_id = visit.offer.id
        self.payout.setdefault(offer_id, Decimal(0))
        if visit.clicked:
            self.clicks[offer_id] += 1
            self.sent["click"] += 1
        for send, outcome in zip(visit.sends, outcomes, strict=True):
            self.sent[label(send)] += 1
            if outcome.reason:
                self.issues[outcome.reason] += 1
            else:
                if outcome.kind == "credit":
                    self.conversions[offer_id] += 1
                self.payout[offer_id] += outcome.payout


def kind(rule: PayoutRule) -> str:
    """credit, kpi or reversal: what a conversion priced by `rule` counts as."""
    if rule.payout == "kpi":
        return "kpi"
    return "reversal" if rules.is_reversal(rule) else "credit"


def label(send: Send) -> str:
    if send.kind in REFUSED:
        return send.kind
    name = f"{send.event} ({send.kind})"
    return f"{name}, retried" if send.retry else name


def outcomes(visit: Visit) -> list[Outcome]:
    """The receiver's answer and the recorded outcome of each request of `visit`."""
    now = datetime.now(UTC)
    click = (Click(click_id="simulated", offer_id=visit.offer.id, clicked_at=now)
             if visit.clicked else None)
    ledger = Ledger()
    result: list[Outcome] = []
    for n, send in enumerate(visit.sends):
        if send.kind in REFUSED:
            reason, status = REFUSED[send.kind]
            result.append(Outcome(status, reason))
            continue
        postback = Postback(
            postback_id=f"p{n}", received_at=now, click_id="simulated", event=send.event,
            payout=send.payout, receipt=send.receipt,
            token=(visit.offer.postback_token or "") if send.kind == "postback" else "",
        )
        decision = decide(click, visit.offer, postback, ledger)
        ledger.record(postback.postback_id, decision, send.event, send.receipt, 0)
        # An issue's decision has no reason-less payout: reason "" means a conversion.
        rule = rules.match_rule(visit.offer, send.event) if decision.converted else None
        result.append(Outcome(200, decision.reason, decision.payout,
                              kind(rule) if rule is not None else ""))
    return result
