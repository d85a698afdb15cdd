"""Sending a visit to the receiver: the click, then its requests one after the other.

One visit's requests go in order, each after the previous one was answered: the receiver
answers only once the message is on the broker, and the broker keeps one click id's
messages in order (same key, same partition), so the worker sees them in plan order,
which is the order the expected totals were decided in.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote

import aiohttp

from schemas.messages import Offer
from simulator.expect import Outcome, label
from simulator.ins import encrypt, notification
from simulator.plan import Send, Visit


def click_id_pattern(offer: Offer) -> re.Pattern[str]:
    """Finds the click id in the redirect the receiver renders from the offer's URL."""
    parts = re.split(r"(\{[a-z_0-9]+\})", offer.tracking_url)
    regex = "".join(
        "(?P<click_id>[0-9a-z_]+)" if part == "{click_id}"
        else ".*?" if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(regex)


@dataclass(slots=True)
class Tally:
    """What was sent so far, and every answer that was not the expected one."""

    sent: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def check(self, what: str, status: int, expected: int, body: str) -> None:
        self.sent[what] += 1
        if status != expected:
            self.unexpected[what] += 1
            if len(self.examples) < 5:
                self.examples.append(f"{what}: HTTP {status}, expected {expected}: {body[:200]}")


class Sender:
    def __init__(self, session: aiohttp.ClientSession, base_url: str,
                 account: tuple[str, bytes] | None, max_query_bytes: int) -> None:
        self.session = session
        self.base = base_url
        self.account = account  # (nickname, INS key) or None
        self.max_query_bytes = max_query_bytes
        self.tally = Tally()
        self._patterns: dict[str, re.Pattern[str]] = {}

    async def visit(self, visit: Visit, outcomes: list[Outcome]) -> None:
        click_id = await self._click(visit) if visit.clicked else uuid.uuid4().hex
        if click_id is None:
            return  # the click failed (tallied): its postbacks would only add noise
        for send, outcome in zip(visit.sends, outcomes, strict=True):
            await self._send(visit.offer, send, click_id, outcome.status)

    async def _click(self, visit: Visit) -> str | None:
        offer = visit.offer
        async with self.session.get(f"{self.base}/c/{offer.id}", params=visit.params,
                                    allow_redirects=False) as response:
            body = await response.text()
            location = response.headers.get("Location", "")
        self.tally.check("click", response.status, 302, body)
        pattern = self._patterns.setdefault(offer.id, click_id_pattern(offer))
        match = pattern.fullmatch(location)
        return unquote(match["click_id"]) if response.status == 302 and match else None

    async def _send(self, offer: Offer, send: Send, click_id: str, expected: int) -> None:
        url = f"{self.base}/api/v1/events"
        if send.kind in ("ins", "ins_test"):
            assert self.account is not None
            nickname, key = self.account
            data = encrypt(notification(send, click_id, vendor=offer.id), key)
            request = self.session.post(f"{self.base}/api/v1/clickbank/ins/{nickname}",
                                        data=data, headers={"Content-Type": "application/json"})
        else:
            request = self.session.get(url, params=self._params(offer, send, click_id))
        async with request as response:
            body = await response.text()
        self.tally.check(label(send), response.status, expected, body)

    def _params(self, offer: Offer, send: Send, click_id: str) -> dict[str, str]:
        if send.kind == "macro":
            # The postback URL as configured, sent before ClickBank substituted anything.
            return {"click_id": "{trackingCodes}", "event_parameter": "purchase",
                    "payout": "{affiliateEarnings}", "receipt": "{receipt}"}
        params = {"click_id": click_id, "event_parameter": send.event, "currency": "USD"}
        if send.payout is not None:
            params["payout"] = str(send.payout)
        if send.receipt:
            params["receipt"] = send.receipt
        if offer.postback_token:
            params["token"] = offer.postback_token
        if send.kind == "bad_token":
            params["token"] = "expired-" + uuid.uuid4().hex[:8]
        elif send.kind == "too_large":
            params["aff_sub1"] = "x" * self.max_query_bytes
        return params
