"""The sections of the offers file only the receiver reads, besides `offers:` itself.

    clickbank:
      accounts:                     # ClickBank INS v8: one entry per account nickname
        mystore: {secret_key: ABCD1234EFGH5678}
    postback_allowlists:            # optional, per offer: postbacks carrying the offer's
      keto: [203.0.113.0/24]        # `postback_token` must come from these networks

They live in the offers file because they are per-account and per-offer secrets and
policies that change with the offers, not with the deployment. Problems are reported all
at once, naming the section and entry, like the offers themselves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hopstream.offers import OffersError
from hopstream.settings import IPNetwork, parse_cidrs

NICKNAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ClickBankAccount:
    nickname: str
    secret_key: str = field(repr=False)

    @property
    def ins_key(self) -> bytes:
        """AES-256 key of INS v8: the first 32 hex digits of SHA-1(secret key), as ASCII."""
        return hashlib.sha1(self.secret_key.encode()).hexdigest()[:32].encode("ascii")


@dataclass(frozen=True)
class ReceiverSections:
    accounts: dict[str, ClickBankAccount]
    allowlists: dict[str, list[IPNetwork]]  # offer id -> networks its token may post from


def load_receiver_sections(path: Path, offer_ids: Collection[str]) -> ReceiverSections:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise OffersError(f"{path}: cannot read offers file: {exc}") from None
    return parse_receiver_sections(document, offer_ids, source=str(path))


def parse_receiver_sections(
    document: Any, offer_ids: Collection[str], source: str = "offers"
) -> ReceiverSections:
    problems: list[str] = []
    doc = document if isinstance(document, dict) else {}
    accounts = _accounts(doc.get("clickbank"), f"{source}: clickbank", problems)
    allowlists = _allowlists(
        doc.get("postback_allowlists"), offer_ids, f"{source}: postback_allowlists", problems
    )
    if problems:
        raise OffersError("\n".join(problems))
    return ReceiverSections(accounts=accounts, allowlists=allowlists)


def _accounts(section: Any, where: str, problems: list[str]) -> dict[str, ClickBankAccount]:
    if section is None:
        return {}
    if not isinstance(section, dict) or set(section) - {"accounts"}:
        problems.append(f"{where}: expected a mapping with an `accounts:` mapping only")
        return {}
    raw = section.get("accounts") or {}
    if not isinstance(raw, dict):
        problems.append(f"{where}.accounts: expected a mapping of nickname -> {{secret_key}}")
        return {}
    accounts: dict[str, ClickBankAccount] = {}
    for nickname, entry in raw.items():
        here = f"{where}.accounts.{nickname}"
        if not isinstance(nickname, str) or not NICKNAME.match(nickname):
            problems.append(f"{here}: the nickname must be 1-64 letters, digits, `_` or `-`")
            continue
        if not isinstance(entry, dict) or set(entry) != {"secret_key"}:
            problems.append(f"{here}: expected exactly {{secret_key: ...}}")
            continue
        secret = entry["secret_key"]
        if not isinstance(secret, str) or not secret.strip():
            problems.append(f"{here}: `secret_key` must be a non-empty string (quote it)")
            continue
        # INS URLs name the account in lower case whatever the file says.
        accounts[nickname.lower()] = ClickBankAccount(nickname.lower(), secret.strip())
    return accounts


def _allowlists(
    section: Any, offer_ids: Collection[str], where: str, problems: list[str]
) -> dict[str, list[IPNetwork]]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        problems.append(f"{where}: expected a mapping of offer id -> list of CIDRs")
        return {}
    allowlists: dict[str, list[IPNetwork]] = {}
    for offer_id, cidrs in section.items():
        here = f"{where}.{offer_id}"
        if offer_id not in offer_ids:
            problems.append(f"{here}: no such offer")
            continue
        if not isinstance(cidrs, list) or not cidrs or not all(isinstance(c, str) for c in cidrs):
            problems.append(f"{here}: expected a non-empty list of CIDRs like 203.0.113.0/24")
            continue
        try:
            allowlists[offer_id] = parse_cidrs(",".join(cidrs))
        except ValueError as exc:
            problems.append(f"{here}: {exc}")
    return allowlists
