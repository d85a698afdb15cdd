"""hopstream.offers: loading and validating the offers file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hopstream.offers import OffersError, load_offers, parse_offers
from hopstream.settings import SAMPLE_OFFERS
from schemas.messages import Offer, PayoutRule


def _offer(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "keto",
        "tracking_url": "https://keto.hop.clickbank.net/?tid={click_id}",
        "payouts": [{"event": "purchase", "payout": "postback"}],
    }
    item.update(changes)
    return item


def _errors(*offers: dict[str, Any]) -> str:
    with pytest.raises(OffersError) as info:
        parse_offers({"offers": list(offers)}, source="offers.yaml")
    return str(info.value)


def test_shipped_sample_loads() -> None:
    offers = load_offers(SAMPLE_OFFERS)
    assert list(offers)[:2] == ["keto", "fitness"]
    keto = offers["keto"]
    assert keto.tracking_url.startswith("https://keto.hop.clickbank.net/?tid={click_id}")
    assert keto.payouts == [
        PayoutRule(event="purchase", payout="postback"),
        PayoutRule(event="upsell", payout="postback", recurrent=True),
        PayoutRule(event="rebill", payout="postback", recurrent=True),
        PayoutRule(event="refund", payout="reverse", recurrent=True),
        PayoutRule(event="chargeback", payout="reverse", recurrent=True),
        PayoutRule(event="*", payout="postback"),
    ]
    assert offers["fitness"].attribution_window_days == 60


def test_valid_offer_is_parsed() -> None:
    offers = parse_offers({"offers": [_offer(postback_token="s3cret",
                                             attribution_window_days=30)]})
    assert offers == {"keto": Offer(
        id="keto",
        tracking_url="https://keto.hop.clickbank.net/?tid={click_id}",
        postback_token="s3cret",
        attribution_window_days=30,
        payouts=[PayoutRule(event="purchase", payout="postback")],
    )}


def test_optional_keys_default() -> None:
    offer = parse_offers({"offers": [_offer()]})["keto"]
    assert offer.postback_token is None
    assert offer.attribution_window_days == 60


@pytest.mark.parametrize(
    ("payout", "text"),
    [("postback", "postback"), ("kpi", "kpi"), ("reverse", "reverse"), ("10.00", "10.00"),
     ("0", "0"), ("50%", "50%"), ("12.5%", "12.5%"), (10, "10")],
)
def test_valid_payout_kinds(payout: Any, text: str) -> None:
    offer = parse_offers({"offers": [_offer(payouts=[{"event": "purchase", "payout": payout}])]})
    assert offer["keto"].payouts[0].payout == text


def test_star_event_is_valid() -> None:
    offer = parse_offers({"offers": [_offer(payouts=[{"event": "*", "payout": "postback"}])]})
    assert offer["keto"].payouts[0].event == "*"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"tracking_url": "http://keto.hop.clickbank.net/?tid={click_id}"}, "https://"),
        ({"tracking_url": "keto.hop.clickbank.net/?tid={click_id}"}, "https://"),
        ({"tracking_url": "https://keto.hop.clickbank.net/?tid=x"}, "{click_id}"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"payouts": []}, "`payouts` must be a non-empty list"),
        ({"payouts": None}, "`payouts` must be a non-empty list"),
        ({"attribution_window_days": 0}, "attribution_window_days"),
        ({"attribution_window_days": "60"}, "attribution_window_days"),
        ({"attribution_window_days": True}, "attribution_window_days"),
        ({"postback_token": ""}, "postback_token"),
        ({"id": "bad id!"}, "`id`"),
    ],
)
def test_offer_problem_names_the_offer(changes: dict[str, Any], expected: str) -> None:
    message = _errors(_offer(**changes))
    assert f"offers.yaml: offer {changes.get('id', 'keto')!r}: " in message
    assert expected in message


def test_offer_without_id_is_named_by_index() -> None:
    item = _offer()
    del item["id"]
    message = _errors(_offer(id="first"), item)
    assert "offers.yaml: offers[1]" in message
    assert "`id`" in message


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"event": "purchase", "payout": "abc"}, "got 'abc'"),
        ({"event": "purchase", "payout": "-5"}, "`payout` must be"),
        ({"event": "purchase", "payout": "NaN"}, "`payout` must be"),
        ({"event": "purchase"}, "`payout` must be"),
        ({"event": "purchase", "payout": "postback", "recurrent": "yes"}, "`recurrent`"),
        ({"event": "", "payout": "postback"}, "`event`"),
        ({"payout": "postback"}, "`event`"),
        ({"event": "purchase", "payout": "postback", "amount": 3}, "unknown key 'amount'"),
        ("purchase", "expected a mapping"),
    ],
)
def test_rule_problem_names_offer_and_rule_index(rule: Any, expected: str) -> None:
    good = {"event": "purchase", "payout": "postback"}
    message = _errors(_offer(payouts=[good, rule]))
    assert "offers.yaml: offer 'keto', payouts[1]" in message
    assert expected in message


def test_yaml_float_payout_asks_to_quote() -> None:
    document = yaml.safe_load(
        "offers:\n"
        "  - id: keto\n"
        "    tracking_url: https://keto.hop.clickbank.net/?tid={click_id}\n"
        "    payouts:\n"
        "      - {event: purchase, payout: 10.0}\n"
    )
    with pytest.raises(OffersError) as info:
        parse_offers(document)
    message = str(info.value)
    assert "offer 'keto', payouts[0]" in message
    assert "10.0" in message
    assert "quote" in message


def test_duplicate_offer_ids() -> None:
    message = _errors(_offer(), _offer())
    assert "offers.yaml: offer 'keto': duplicate offer id" in message


def test_all_problems_are_reported_at_once() -> None:
    message = _errors(
        _offer(tracking_url="http://keto.example/?tid={click_id}",
               payouts=[{"event": "purchase", "payout": "abc"}]),
        _offer(id="fitness", colour="red"),
    )
    lines = message.splitlines()
    assert len(lines) == 3
    assert any("offer 'keto'" in line and "tracking_url" in line for line in lines)
    assert any("offer 'keto', payouts[0]" in line and "'abc'" in line for line in lines)
    assert any("offer 'fitness'" in line and "'colour'" in line for line in lines)


@pytest.mark.parametrize("document", [None, [], {"offers": {"keto": {}}}, {"offer": []}])
def test_document_must_hold_an_offers_list(document: Any) -> None:
    with pytest.raises(OffersError, match="offers:"):
        parse_offers(document, source="offers.yaml")


def test_offers_entry_must_be_a_mapping() -> None:
    assert "offers.yaml: offers[0]: expected a mapping" in _errors("keto")  # type: ignore[arg-type]


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(OffersError, match=re.escape("nope.yaml: cannot read")):
        load_offers(path)


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(OffersError, match=re.escape(str(tmp_path))):
        load_offers(tmp_path)


def test_invalid_yaml_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("offers: [\n  - id: keto\n", encoding="utf-8")
    with pytest.raises(OffersError) as info:
        load_offers(path)
    assert str(path) in str(info.value)
    assert "not valid YAML" in str(info.value)


def test_file_problems_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text("offers:\n  - id: keto\n    tracking_url: http://x/\n", encoding="utf-8")
    with pytest.raises(OffersError, match=re.escape(f"{path}: offer 'keto'")):
        load_offers(path)


def test_non_utf8_file_gives_offers_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("offers:\n  - id: caf\xe9\n".encode("latin-1"))
    with pytest.raises(OffersError, match=re.escape("latin1.yaml")):
        load_offers(path)


def test_other_top_level_sections_are_left_to_their_owners() -> None:
    offers = parse_offers({"offers": [_offer()], "clickbank": {"accounts": [{"nick": "x"}]}})
    assert list(offers) == ["keto"]
