"""What the simulator prints: a progress bar while it runs, the expected totals at the end.

On a terminal the bar redraws one line; elsewhere (a log, `hopstream dev --simulate`,
which prefixes every line) it prints a progress line every few seconds instead.
"""

from __future__ import annotations

import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulator.expect import Expected
from simulator.send import Tally

BAR = 30
LINE_EVERY_S = 10.0


class Progress:
    def __init__(self, total: int, duration_s: float) -> None:
        self.total = total
        self.duration_s = duration_s
        self.tty = sys.stdout.isatty()
        self._last_line = 0.0

    def show(self, done: int, elapsed: float, tally: Tally, final: bool = False) -> None:
        share = done / self.total if self.total else 1.0
        requests = sum(tally.sent.values())
        text = (f"{done}/{self.total} visits, {requests} requests, "
                f"{sum(tally.unexpected.values())} unexpected answers, "
                f"{elapsed:.0f}/{self.duration_s:.0f}s")
        if self.tty:
            filled = round(BAR * share)
            sys.stdout.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {share:4.0%} {text}")
            if final:
                sys.stdout.write("\n")
        elif final or elapsed - self._last_line >= LINE_EVERY_S:
            self._last_line = elapsed
            sys.stdout.write(f"simulating: {share:.0%} {text}\n")
        sys.stdout.flush()


def money(value: Decimal) -> str:
    """Grouped, with cents, and every further decimal place the exact amount has."""
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{value:,.{places}f}"


def summary(expected: Expected, tally: Tally, since: datetime, seed: int, elapsed: float,
            grace_s: float, dashboard_url: str) -> str:
    lines = [f"simulation done in {elapsed:.1f}s (seed {seed}); sent: "
             + ", ".join(f"{n} {what}" for what, n in sorted(tally.sent.items()))]
    if tally.unexpected:
        lines.append("UNEXPECTED answers: " + ", ".join(
            f"{n} {what}" for what, n in sorted(tally.unexpected.items())))
        lines.extend(f"  {example}" for example in tally.examples)
    lines.append(f"expected totals once the pipeline settles (traffic since "
                 f"{since.isoformat(timespec='seconds')}):")
    lines.append(f"  {'offer':<14}{'clicks':>8}{'conversions':>13}{'payout':>14}")
    for offer_id in sorted(expected.payout):
        lines.append(f"  {offer_id:<14}{expected.clicks[offer_id]:>8}"
                     f"{expected.conversions[offer_id]:>13}"
                     f"{money(expected.payout[offer_id]):>14}")
    lines.append(f"  {'total':<14}{sum(expected.clicks.values()):>8}"
                 f"{sum(expected.conversions.values()):>13}"
                 f"{money(sum(expected.payout.values(), Decimal(0))):>14}")
    issues = ", ".join(f"{reason} {n}" for reason, n in sorted(expected.issues.items()))
    lines.append(f"  issues by reason: {issues or 'none'}")
    if expected.issues["unknown_click"]:
        lines.append(f"  (unknown_click is recorded once the late-click grace is over: "
                     f"{grace_s:.0f}s after the postback)")
    lines.append(f"dashboard for this run: {dashboard_url}")
    return "\n".join(lines)


def as_json(expected: Expected, tally: Tally, since: datetime, seed: int) -> dict[str, Any]:
    """The summary for programs (`--summary-json`): money as decimal strings."""
    return {
        "since": since.isoformat(), "seed": seed,
        "clicks": dict(expected.clicks), "conversions": dict(expected.conversions),
        "payout": {k: str(v) for k, v in expected.payout.items()},
        "issues": dict(expected.issues),
        "sent": dict(tally.sent), "unexpected": dict(tally.unexpected),
    }
