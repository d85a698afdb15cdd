"""What a postback becomes: exactly one Conversion or one PostbackIssue.

Pure logic, unit-tested directly; `streams.processor` only moves bytes around it.
`settle` takes the click (None once the late-click grace period is over), the click's
offer as currently published, the postback and the click's ledger, and checks in order:

    unknown_click -> unknown_offer -> bad_token -> unknown_offer (retired offer, unless
    the rule reverses) -> no_rule -> expired -> duplicate -> the rule's price
    (missing_payout, nothing_to_reverse) -> conversion

The decision is recorded in the ledger; a postback id the ledger already decided gets the
same decision again (see `streams.ledger` for why).

Three of those issues can be early rather than final: the click may still come, the offer
may still be published, the sale a refund reverses may still arrive (two receivers, a
spooled message). Until the postback's grace period is over (`final=False`), `settle`
returns None for them instead of deciding, and the postback waits (`streams.processor`).
A reversal waits only if its receipt was never credited on the click: one whose credit
was already reversed is final at once.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

import orjson

from schemas.codec import to_dict
from schemas.messages import Click, Conversion, Offer, Postback, PostbackIssue
from streams import rules
from streams.ledger import Decision, Ledger

WAITING = frozenset({"unknown_click", "unknown_offer", "nothing_to_reverse"})


def settle(click: Click | None, offer: Offer | None, postback: Postback, ledger: Ledger,
           now_ms: int, final: bool = True) -> Conversion | PostbackIssue | None:
    """The postback's outcome, or None while it should wait (only when not `final`)."""
    decision = ledger.decisions.get(postback.postback_id)
    if decision is None:
        decision = decide(click, offer, postback, ledger)
        if not final and waits(decision, offer, postback, ledger):
            return None
        ledger.record(postback.postback_id, decision, postback.event, postback.receipt, now_ms)
    return outcome(click, postback, decision)


def waits(decision: Decision, offer: Offer | None, postback: Postback, ledger: Ledger) -> bool:
    if decision.reason == "unknown_offer":
        return offer is None  # not yet published; a retired offer is final
    if decision.reason == "nothing_to_reverse":
        return bool(postback.receipt) and not ledger.ever_credited(postback.receipt)
    return decision.reason in WAITING


def decide(click: Click | None, offer: Offer | None, postback: Postback, ledger: Ledger
           ) -> Decision:
    if click is None:
        return _issue("unknown_click", "click_id: no click with this id arrived within the "
                      "late-click grace period")
    if offer is None:
        return _issue("unknown_offer", f"offer_id: the click's offer {click.offer_id!r} was "
                      "not published (hopstream offers apply) within the grace period")
    # An INS notification is authenticated by its encryption (the account's secret key),
    # and ClickBank cannot add the offer's token to it.
    if offer.postback_token is not None and not postback.ins_account and not hmac.compare_digest(
        postback.token.encode(), offer.postback_token.encode()
    ):
        return _issue("bad_token", f"token: does not match offer {offer.id!r}'s postback_token")
    rule = rules.match_rule(offer, postback.event)
    if offer.retired and (rule is None or not rules.is_reversal(rule)):
        return _issue("unknown_offer", f"offer_id: the click's offer {offer.id!r} was retired "
                      "(removed from the offers file); only its reversals still apply")
    if rule is None:
        return _issue("no_rule", f"event: offer {offer.id!r} has no payout rule for event "
                      f"{postback.event!r}")
    reversal = rules.is_reversal(rule)
    # A reversal follows the credit it reverses, however late: only crediting is bounded
    # by the attribution window.
    window = timedelta(days=offer.attribution_window_days)
    if not reversal and postback.received_at - click.clicked_at > window:
        return _issue("expired", f"received_at: more than {offer.attribution_window_days} days "
                      f"(offer {offer.id!r}'s attribution window) after the click at "
                      f"{click.clicked_at.isoformat()}")
    duplicate = _duplicate(rule.recurrent and not reversal, postback, ledger, reversal)
    if duplicate:
        return _issue("duplicate", duplicate)
    priced = rules.price(rule, postback, ledger.still_credited(postback.receipt))
    if isinstance(priced, rules.Refusal):
        return _issue(priced.reason, priced.detail)
    return Decision(converted=True, payout=priced, rule=rules.describe(rule))


def _duplicate(recurrent: bool, postback: Postback, ledger: Ledger, reversal: bool) -> str:
    earlier = ledger.credit_for(postback.event, postback.receipt)
    if earlier is not None:
        return (f"receipt: {postback.receipt!r} was already counted for event "
                f"{postback.event!r} on this click (postback {earlier.postback_id})")
    # Reversals are deduplicated by receipt only: one click can have several sales to
    # reverse. Other non-recurrent events count once per click.
    if not reversal and not recurrent and ledger.has_event(postback.event):
        return (f"event: {postback.event!r} is not recurrent and this click already has a "
                "conversion for it")
    return ""


def _issue(reason: str, detail: str) -> Decision:
    return Decision(converted=False, reason=reason, detail=detail)


def outcome(click: Click | None, postback: Postback, decision: Decision
            ) -> Conversion | PostbackIssue:
    if not decision.converted:
        return issue_for(postback, decision.reason, decision.detail,
                         offer_id=click.offer_id if click is not None else "")
    if click is None:
        raise ValueError(f"postback {postback.postback_id} was credited but its click is gone")
    return Conversion(
        postback_id=postback.postback_id,
        click_id=click.click_id,
        offer_id=click.offer_id,
        event=postback.event,
        receipt=postback.receipt,
        payout=decision.payout,
        currency=postback.currency,
        converted_at=postback.received_at,
        clicked_at=click.clicked_at,
        traffic_source=click.traffic_source,
        campaign=click.campaign,
        creative=click.creative,
        rule=decision.rule,
    )


def issue_for(postback: Postback, reason: str, detail: str, offer_id: str = "") -> PostbackIssue:
    return PostbackIssue(
        postback_id=postback.postback_id,
        reason=reason,
        detail=detail,
        received_at=postback.received_at,
        click_id=postback.click_id,
        offer_id=offer_id,
        event=postback.event,
        receipt=postback.receipt,
        raw=orjson.dumps(to_dict(postback)).decode(),
    )
