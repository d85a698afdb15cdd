"""Who may post: the client's address (behind trusted proxies), allow-lists, tokens.

Pure logic, unit-tested directly; `postbacks.py` and `ins.py` apply it to requests.

- The client address is the peer, unless the peer is a configured proxy: then it is the
  right-most X-Forwarded-For entry that is not itself a trusted proxy. The header is
  ignored from anyone else, since any client can write it.
- A postback only names a click, so the receiver cannot know its offer yet. What it can
  check at once is that a token it carries belongs to *some* offer; whether it is the
  click's offer is decided by the worker after the join.
- Tokens are compared in constant time against every offer's token, without stopping at
  the first match, so timing says nothing about which prefix was right.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hopstream.settings import IPNetwork
from schemas.messages import Offer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _within(address: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    return address is not None and any(address in net for net in networks)


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]) -> str:
    """The address the request really comes from, as text ("" if unknown)."""
    if not forwarded_for or not _within(_address(peer), trusted_proxies):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # A hop we cannot read: stop trusting the chain here, and say so by the value.
            return hop[:64]
        if not _within(address, trusted_proxies):
            return str(address)
    # Every hop is one of our proxies: the left-most is as close to the client as we get.
    return hops[0] if hops else peer


def ip_allowed(ip: str, networks: Sequence[IPNetwork]) -> bool:
    """An empty allow-list allows everyone; otherwise the address must be in it."""
    return not networks or _within(_address(ip), networks)


@dataclass(frozen=True)
class TokenIndex:
    """Offer tokens -> the offers using each, and the networks each offer may post from."""

    tokens: tuple[tuple[bytes, str], ...]  # (token, offer id), one per offer with a token
    allowlists: Mapping[str, Sequence[IPNetwork]]

    @classmethod
    def build(cls, offers: Mapping[str, Offer],
              allowlists: Mapping[str, Sequence[IPNetwork]]) -> TokenIndex:
        tokens = tuple(
            (offer.postback_token.encode(), offer.id)
            for offer in offers.values() if offer.postback_token
        )
        return cls(tokens=tokens, allowlists=dict(allowlists))

    def offers_for(self, token: str) -> list[str]:
        """Offers whose token this is; every token is compared (constant time per token)."""
        candidate = token.encode()
        matches = []
        for secret, offer_id in self.tokens:
            if hmac.compare_digest(candidate, secret):
                matches.append(offer_id)
        return matches

    def ip_allowed_for(self, offer_ids: Sequence[str], ip: str) -> bool:
        """True when any of the token's offers lets this address post (no list: anyone)."""
        return any(ip_allowed(ip, self.allowlists.get(offer_id, ())) for offer_id in offer_ids)


@dataclass(frozen=True)
class AccessPolicy:
    """Everything the receiver checks about who sends a postback, built once at start."""

    allowed: Sequence[IPNetwork]  # global allow-list (empty: anyone)
    trusted_proxies: Sequence[IPNetwork]
    tokens: TokenIndex

    def client_ip(self, peer: str, forwarded_for: str | None) -> str:
        return client_ip(peer, forwarded_for, self.trusted_proxies)

    def source_problem(self, ip: str) -> str | None:
        """Why this address may not post at all, or None."""
        if ip_allowed(ip, self.allowed):
            return None
        return f"source address {ip or 'unknown'} is not in HOPSTREAM_RECEIVER_ALLOWED_IPS"

    def token_problem(self, token: str, ip: str) -> tuple[str, str] | None:
        """(reason, detail) when the token or the address it posts from is refused."""
        if not token:
            return None  # the worker decides whether the click's offer requires one
        offers = self.tokens.offers_for(token)
        if not offers:
            return "bad_token", "token: matches no offer's postback_token"
        if not self.tokens.ip_allowed_for(offers, ip):
            return ("forbidden_ip", f"source address {ip or 'unknown'} is not in the "
                    "postback_allowlists of the offer this token belongs to")
        return None
