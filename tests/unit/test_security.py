"""services.receiver.security: client address behind proxies, allow-lists, tokens."""

from __future__ import annotations

import pytest

from hopstream.settings import parse_cidrs
from services.receiver.security import AccessPolicy, TokenIndex, client_ip, ip_allowed
from tests.unit.samples import offer

PROXIES = parse_cidrs("10.0.0.0/8, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not our proxy: header ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # left part is client-written
        ("10.0.0.5", "198.51.100.1, 10.0.0.7", "198.51.100.1"),  # two proxies
        ("10.0.0.5", " 2001:db8::1 ", "2001:db8::1"),
        ("fd00::1", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "10.0.0.6, 10.0.0.7", "10.0.0.6"),
        ("10.0.0.5", "garbage, 10.0.0.7", "garbage"),
        ("10.0.0.5", "", "10.0.0.5"),
    ],
)
def test_client_ip(peer: str, xff: str | None, expected: str) -> None:
    assert client_ip(peer, xff, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_ip("10.0.0.5", "198.51.100.1", []) == "10.0.0.5"


@pytest.mark.parametrize(
    ("ip", "cidrs", "allowed"),
    [
        ("203.0.113.9", "", True),
        ("203.0.113.9", "203.0.113.0/24", True),
        ("203.0.114.9", "203.0.113.0/24", False),
        ("2001:db8::5", "203.0.113.0/24,2001:db8::/32", True),
        ("garbage", "203.0.113.0/24", False),
        ("", "203.0.113.0/24", False),
    ],
)
def test_ip_allowed(ip: str, cidrs: str, allowed: bool) -> None:
    assert ip_allowed(ip, parse_cidrs(cidrs)) is allowed


TOKENS = TokenIndex.build(
    {"keto": offer(id="keto", postback_token="k3t0"),
     "fit": offer(id="fit", postback_token="f1t"),
     "open": offer(id="open", postback_token=None)},
    {"fit": parse_cidrs("198.51.100.0/24")},
)


def test_token_matches_its_offer_only() -> None:
    assert TOKENS.offers_for("k3t0") == ["keto"]
    assert TOKENS.offers_for("f1t") == ["fit"]
    assert TOKENS.offers_for("k3t") == []
    assert TOKENS.offers_for("k3t0x") == []
    assert TOKENS.offers_for("") == []


def test_token_allowlist_is_per_offer() -> None:
    assert TOKENS.ip_allowed_for(["keto"], "203.0.113.9")  # no list: anyone
    assert TOKENS.ip_allowed_for(["fit"], "198.51.100.20")
    assert not TOKENS.ip_allowed_for(["fit"], "203.0.113.9")


POLICY = AccessPolicy(allowed=parse_cidrs("198.51.100.0/24, 203.0.113.0/24"),
                      trusted_proxies=PROXIES, tokens=TOKENS)


def test_policy_source() -> None:
    assert POLICY.source_problem("203.0.113.9") is None
    problem = POLICY.source_problem("192.0.2.1")
    assert problem is not None and "192.0.2.1" in problem


@pytest.mark.parametrize(
    ("token", "ip", "reason"),
    [
        ("", "203.0.113.9", None),
        ("k3t0", "203.0.113.9", None),
        ("nope", "203.0.113.9", "bad_token"),
        ("f1t", "198.51.100.3", None),
        ("f1t", "203.0.113.9", "forbidden_ip"),
    ],
)
def test_policy_token(token: str, ip: str, reason: str | None) -> None:
    problem = POLICY.token_problem(token, ip)
    assert (problem[0] if problem else None) == reason
    if problem:
        assert problem[1]
