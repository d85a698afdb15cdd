"""Per-click ledger: what was credited to a click, and how each of its postbacks was decided.

One ledger per click id, stored in the worker's `ledger` table (RocksDB + changelog), so it
lives on the same partition as the click and its postbacks and survives restarts and
rebalances. It answers the three questions that keep money exact:

- dedupe: was this receipt already counted for this event on this click? (`credit_for`)
- non-recurrent events: does the click already have a conversion of this event?
- reversals: how much is still credited for a receipt? (`still_credited`)

It also remembers the decision for every postback id it settled. Delivery is at least
once: after a crash a postback can be processed again although its decision already
reached the changelog. Replaying the remembered decision (instead of deciding again, which
would now say `duplicate`, or could price differently after a rule change) keeps exactly
one outcome per postback id; downstream collapses the repeated message on that id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import orjson


@dataclass(slots=True, frozen=True)
class Credit:
    event: str
    receipt: str
    payout: Decimal
    postback_id: str


@dataclass(slots=True, frozen=True)
class Decision:
    """How a postback was settled: a conversion (payout, rule) or an issue (reason, detail)."""

    converted: bool
    payout: Decimal = Decimal(0)
    rule: str = ""
    reason: str = ""
    detail: str = ""


@dataclass(slots=True)
class Ledger:
    credits: list[Credit] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    touched_ms: int = 0  # last change, wall clock: ledgers of long-gone clicks are swept

    def credit_for(self, event: str, receipt: str) -> Credit | None:
        return next((c for c in self.credits if c.event == event and c.receipt == receipt),
                    None)

    def has_event(self, event: str) -> bool:
        return any(c.event == event for c in self.credits)

    def holds_credit(self) -> bool:
        """Some receipt still has a net amount credited (a later reversal has work to do)."""
        return any(self.still_credited(r) > 0 for r in {c.receipt for c in self.credits})

    def ever_credited(self, receipt: str) -> bool:
        """Some postback was credited for `receipt` on this click (reversed or not)."""
        return any(c.receipt == receipt for c in self.credits)

    def still_credited(self, receipt: str) -> Decimal:
        """Net amount credited for `receipt` on this click (credits minus reversals)."""
        return sum((c.payout for c in self.credits if c.receipt == receipt), Decimal(0))

    def record(self, postback_id: str, decision: Decision, event: str, receipt: str,
               now_ms: int) -> None:
        self.decisions[postback_id] = decision
        if decision.converted:
            self.credits.append(Credit(event, receipt, decision.payout, postback_id))
        self.touched_ms = now_ms

    # --- storage ----------------------------------------------------------------------
    def encode(self) -> bytes:
        # "t" first: the sweep reads it without decoding the rest (`touched_at`).
        return orjson.dumps({
            "t": self.touched_ms,
            "c": [[c.event, c.receipt, str(c.payout), c.postback_id] for c in self.credits],
            "d": {pid: ([str(d.payout), d.rule] if d.converted else [d.reason, d.detail, 0])
                  for pid, d in self.decisions.items()},
        })

    @classmethod
    def touched_at(cls, raw: bytes) -> int:
        """`touched_ms` of a stored ledger; read from the front of the value when it is
        there (written since "t" came first), else by decoding it."""
        if raw.startswith(b'{"t":'):
            return int(raw[5:raw.index(b",", 5)])
        return cls.decode(raw).touched_ms

    @classmethod
    def decode(cls, raw: bytes | None) -> Ledger:
        if raw is None:
            return cls()
        data = orjson.loads(raw)
        return cls(
            credits=[Credit(e, r, Decimal(p), pid) for e, r, p, pid in data["c"]],
            decisions={pid: _decision(d) for pid, d in data["d"].items()},
            touched_ms=data["t"],
        )


def _decision(stored: list[str]) -> Decision:
    # Conversions are stored as [payout, rule], issues as [reason, detail, 0].
    if len(stored) == 2:
        return Decision(converted=True, payout=Decimal(stored[0]), rule=stored[1])
    return Decision(converted=False, reason=stored[0], detail=stored[1])
