"""hopstream.receiver_sections: the offers file's `clickbank:` and `postback_allowlists:`."""

from __future__ import annotations

from pathlib import Path

import pytest

from hopstream.offers import OffersError
from hopstream.receiver_sections import load_receiver_sections, parse_receiver_sections


def test_absent_sections_are_empty() -> None:
    sections = parse_receiver_sections({"offers": []}, ["keto"])
    assert sections.accounts == {} and sections.allowlists == {}


def test_accounts_and_allowlists() -> None:
    sections = parse_receiver_sections(
        {"clickbank": {"accounts": {"MyStore": {"secret_key": " ABC123 "}}},
         "postback_allowlists": {"keto": ["203.0.113.0/24", "2001:db8::1"]}},
        ["keto"],
    )
    account = sections.accounts["mystore"]
    assert (account.nickname, account.secret_key) == ("mystore", "ABC123")
    assert "ABC123" not in repr(account)
    assert [str(n) for n in sections.allowlists["keto"]] == ["203.0.113.0/24", "2001:db8::1/128"]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ({"clickbank": ["x"]}, "clickbank: expected a mapping"),
        ({"clickbank": {"accounts": {"s": {"secret_key": ""}}}}, "clickbank.accounts.s"),
        ({"clickbank": {"accounts": {"s": {"secret": "x"}}}}, "secret_key"),
        ({"clickbank": {"accounts": {"bad name": {"secret_key": "x"}}}}, "nickname"),
        ({"postback_allowlists": {"nope": ["203.0.113.0/24"]}}, "no such offer"),
        ({"postback_allowlists": {"keto": "203.0.113.0/24"}}, "list of CIDRs"),
        ({"postback_allowlists": {"keto": ["300.1.1.1"]}}, "'300.1.1.1'"),
    ],
)
def test_problems_name_the_entry(document: dict[str, object], says: str) -> None:
    with pytest.raises(OffersError, match=says.replace(".", r"\.")):
        parse_receiver_sections(document, ["keto"], source="f.yaml")


def test_all_problems_at_once() -> None:
    with pytest.raises(OffersError) as info:
        parse_receiver_sections({"clickbank": {"accounts": {"a": {}, "b": {}}}}, [])
    assert str(info.value).count("\n") == 1


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "offers.yaml"
    path.write_text("offers: []\nclickbank:\n  accounts:\n    shop: {secret_key: 'S3CRET'}\n")
    assert load_receiver_sections(path, []).accounts["shop"].secret_key == "S3CRET"
