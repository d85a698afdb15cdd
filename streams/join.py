"""What a postback becomes once its click is known: a Conversion or a PostbackIssue.

Pure logic, unit-tested directly; the agents in `streams.agents` only move bytes around it.
The walking skeleton passes the postback's payout through; the offer's payout rules
(fixed, percentage, kpi, reverse, recurrent) belong here too when they arrive.
"""

from __future__ import annotations

import orjson

from schemas.codec import to_dict
from schemas.messages import Click, Conversion, Postback, PostbackIssue


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


def join(click: Click, postback: Postback) -> Conversion | PostbackIssue:
    if postback.payout is None:
        return issue_for(
            postback, "missing_payout",
            "payout: the offer pays what the postback says, and this one carries no payout",
            offer_id=click.offer_id,
        )
    return Conversion(
        postback_id=postback.postback_id,
        click_id=click.click_id,
        offer_id=click.offer_id,
        event=postback.event,
        receipt=postback.receipt,
        payout=postback.payout,
        currency=postback.currency,
        converted_at=postback.received_at,
        clicked_at=click.clicked_at,
        traffic_source=click.traffic_source,
        campaign=click.campaign,
        creative=click.creative,
    )
