"""Loading and validating the offers file (`--offers FILE` / HOPSTREAM_OFFERS).

Format::

    offers:
      - id: keto
        tracking_url: https://vendor.hop.clickbank.net/?tid={click_id}
        postback_token: s3cret          # optional
        attribution_window_days: 60     # optional
        payouts:
          - {event: purchase, payout: postback}

Every problem is reported with the offer (and rule) it is in, all at once, so an operator
fixes the file in one pass.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from schemas.messages import Offer, PayoutRule

OFFER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PAYOUT_KEYWORDS = {"postback", "kpi", "reverse"}
PERCENT = re.compile(r"^(\d+(\.\d+)?)%$")


class OffersError(ValueError):
    """The offers file is unreadable or invalid; the message lists every problem."""


def load_offers(path: Path) -> dict[str, Offer]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OffersError(f"{path}: cannot read offers file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise OffersError(f"{path}: not UTF-8 text: {exc}") from None
    except yaml.YAMLError as exc:
        raise OffersError(f"{path}: not valid YAML: {exc}") from None
    return parse_offers(document, source=str(path))


def parse_offers(document: Any, source: str = "offers") -> dict[str, Offer]:
    if not isinstance(document, dict) or not isinstance(document.get("offers"), list):
        raise OffersError(f"{source}: expected a mapping with an `offers:` list")
    problems: list[str] = []
    offers: dict[str, Offer] = {}
    for index, item in enumerate(document["offers"]):
        where = f"{source}: offers[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        offer_id = str(item.get("id", ""))
        if offer_id:
            where = f"{source}: offer {offer_id!r}"
        offer = _parse_offer(item, where, problems)
        if offer is None:
            continue
        if offer.id in offers:
            problems.append(f"{where}: duplicate offer id")
        offers[offer.id] = offer
    if problems:
        raise OffersError("\n".join(problems))
    return offers


def _parse_offer(item: dict[str, Any], where: str, problems: list[str]) -> Offer | None:
    before = len(problems)
    known = {"id", "tracking_url", "postback_token", "attribution_window_days", "payouts"}
    for key in sorted(set(item) - known):
        problems.append(f"{where}: unknown key {key!r}")
    offer_id = item.get("id")
    if not isinstance(offer_id, str) or not OFFER_ID.match(offer_id):
        problems.append(f"{where}: `id` must be 1-64 letters, digits, `_`, `.` or `-`")
    url = item.get("tracking_url")
    if not isinstance(url, str) or urlsplit(url).scheme != "https" or not urlsplit(url).netloc:
        problems.append(f"{where}: `tracking_url` must be an https:// URL, got {url!r}")
    elif "{click_id}" not in url:
        problems.append(f"{where}: `tracking_url` must contain {{click_id}} (sent as tid)")
    token = item.get("postback_token")
    if token is not None and (not isinstance(token, str) or not token):
        problems.append(f"{where}: `postback_token` must be a non-empty string")
    window = item.get("attribution_window_days", 60)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        problems.append(f"{where}: `attribution_window_days` must be a positive integer")
    rules_raw = item.get("payouts")
    rules: list[PayoutRule] = []
    if not isinstance(rules_raw, list) or not rules_raw:
        problems.append(f"{where}: `payouts` must be a non-empty list of rules")
    else:
        for n, rule in enumerate(rules_raw):
            parsed = _parse_rule(rule, f"{where}, payouts[{n}]", problems)
            if parsed is not None:
                rules.append(parsed)
    if len(problems) > before:
        return None
    assert isinstance(offer_id, str) and isinstance(url, str)
    return Offer(
        id=offer_id,
        tracking_url=url,
        postback_token=token,
        attribution_window_days=window,
        payouts=rules,
    )


def _parse_rule(rule: Any, where: str, problems: list[str]) -> PayoutRule | None:
    if not isinstance(rule, dict):
        problems.append(f"{where}: expected a mapping like {{event: purchase, payout: postback}}")
        return None
    before = len(problems)
    for key in sorted(set(rule) - {"event", "payout", "recurrent"}):
        problems.append(f"{where}: unknown key {key!r}")
    event = rule.get("event")
    if not isinstance(event, str) or not event:
        problems.append(f"{where}: `event` must be a non-empty string (or \"*\")")
    payout = rule.get("payout")
    payout_text = str(payout) if isinstance(payout, (str, int)) else None
    if isinstance(payout, float):
        problems.append(
            f"{where}: `payout` {payout!r} is a YAML float: quote amounts (\"10.00\") so they "
            "stay exact"
        )
    elif payout_text is None or not _valid_payout(payout_text):
        problems.append(
            f"{where}: `payout` must be postback, kpi, reverse, a decimal amount or a "
            f"percentage like \"50%\", got {payout!r}"
        )
    recurrent = rule.get("recurrent", False)
    if not isinstance(recurrent, bool):
        problems.append(f"{where}: `recurrent` must be true or false")
    if len(problems) > before:
        return None
    assert isinstance(event, str) and payout_text is not None
    return PayoutRule(event=event, payout=payout_text, recurrent=recurrent)


def _valid_payout(text: str) -> bool:
    if text in PAYOUT_KEYWORDS:
        return True
    if PERCENT.match(text):
        return True
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return False
    return amount.is_finite() and amount >= 0
