"""services.receiver.clicks.render_tracking_url: the HopLink a click is redirected to."""

from __future__ import annotations

import pytest

from services.receiver.clicks import render_tracking_url


def test_click_id_is_substituted() -> None:
    url = render_tracking_url("https://v.hop.clickbank.net/?tid={click_id}", {"click_id": "ab12"})
    assert url == "https://v.hop.clickbank.net/?tid=ab12"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("spring sale", "spring%20sale"),
        ("a&b=c", "a%26b%3Dc"),
        ("x/y?z#w", "x%2Fy%3Fz%23w"),
        ("café", "caf%C3%A9"),
        ("日本", "%E6%97%A5%E6%9C%AC"),
        ("{click_id}", "%7Bclick_id%7D"),
    ],
)
def test_other_macros_are_url_encoded(value: str, encoded: str) -> None:
    url = render_tracking_url(
        "https://v.hop.clickbank.net/?tid={click_id}&campaign={campaign}",
        {"click_id": "ab12", "campaign": value},
    )
    assert url == f"https://v.hop.clickbank.net/?tid=ab12&campaign={encoded}"


def test_macro_without_a_value_becomes_empty() -> None:
    url = render_tracking_url("https://v.net/?tid={click_id}&src={traffic_source}",
                              {"click_id": "ab12"})
    assert url == "https://v.net/?tid=ab12&src="


def test_every_occurrence_is_substituted() -> None:
    assert render_tracking_url("{a}-{a}", {"a": "x y"}) == "x%20y-x%20y"


@pytest.mark.parametrize(
    "template",
    ["https://v.net/landing", "https://v.net/?q=a%20b&x=1", "https://v.net/{not a macro}"],
)
def test_text_without_macros_is_untouched(template: str) -> None:
    assert render_tracking_url(template, {"click_id": "ab12", "q": "zzz"}) == template
