"""simulator.plan / simulator.expect: seeded plans and the totals they should become."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hopstream.offers import load_offers
from hopstream.settings import SAMPLE_OFFERS, Settings, SettingsError
from schemas.messages import Offer, PayoutRule
from simulator.expect import Expected, outcomes
from simulator.plan import Planner, Send, Visit, offer_mix, tracked_events
from simulator.send import click_id_pattern

OFFERS = load_offers(SAMPLE_OFFERS)


def settings(**env: str) -> Settings:
    return Settings.from_env({f"HOPSTREAM_SIMULATE_{k.upper()}": v for k, v in env.items()})


def test_same_seed_same_plan_and_every_fault_appears() -> None:
    s = settings(faults="duplicate=0.2,macro=0.2,bad_token=0.2,unknown_click=0.1,"
                        "too_large=0.2,ins=0.5,ins_test=0.2")
    first = Planner(s, OFFERS, seed=5).visits(rate=50, duration_s=10)
    again = Planner(s, OFFERS, seed=5).visits(rate=50, duration_s=10)
    assert [(v.offer.id, v.params, v.sends) for v in first] == [
        (v.offer.id, v.params, v.sends) for v in again]
    kinds = {send.kind for v in first for send in v.sends}
    assert kinds == {"postback", "ins", "macro", "bad_token", "too_large", "ins_test"}
    assert any(send.retry for v in first for send in v.sends)
    assert any(not v.clicked for v in first)
    # INS carries no token: offers that require one are never reported by INS.
    assert all(send.kind != "ins" for v in first if v.offer.postback_token for send in v.sends)


def test_without_an_ins_account_nothing_goes_to_ins() -> None:
    visits = Planner(settings(faults="ins=1,ins_test=1"), OFFERS, seed=1, ins=False).visits(
        rate=20, duration_s=10)
    assert all(s.kind not in ("ins", "ins_test") for v in visits for s in v.sends)


def test_funnel_sends_only_events_the_offer_names() -> None:
    # fitness names refunds and chargebacks (reversals) and a catch-all, no upsell or rebill.
    assert tracked_events(OFFERS["fitness"]) == {"purchase", "refund", "chargeback"}
    visits = Planner(settings(offers="fitness=1", funnel="impression=1,purchase=1,upsell=1,"
                              "rebill=1,refund=1"), OFFERS, seed=2).visits(20, 1)
    assert {s.event for v in visits for s in v.sends if s.kind in ("postback", "ins")} == {
        "purchase", "refund"}


def test_expected_outcomes_follow_the_payout_rules() -> None:
    offer = OFFERS["glucoguard"]  # kpi impressions, 50% rebills, refunds reverse
    visit = Visit(0.0, offer, {}, [
        Send("postback", "order_form_impression"),
        Send("postback", "purchase", Decimal("40.00"), "RCPT0001"),
        Send("postback", "purchase", Decimal("40.00"), "RCPT0001", retry=True),
        Send("ins", "rebill", Decimal("33.33"), "RCPT0001-B002"),
        Send("postback", "refund", Decimal("-40.00"), "RCPT0001"),
        Send("macro", "purchase"),
        Send("bad_token", "purchase"),
        Send("too_large", "purchase"),
        Send("ins_test", "purchase"),
    ])
    result = outcomes(visit)
    assert [(o.status, o.reason, o.payout) for o in result] == [
        (200, "", Decimal(0)),
        (200, "", Decimal("40.00")),
        (200, "duplicate", Decimal(0)),
        (200, "", Decimal("16.665")),
        (200, "", Decimal("-40.00")),
        (400, "invalid", Decimal(0)),
        (401, "bad_token", Decimal(0)),
        (413, "too_large", Decimal(0)),
        (200, "test", Decimal(0)),
    ]
    assert [o.kind for o in result[:5]] == ["kpi", "credit", "", "credit", "reversal"]
    expected = Expected()
    expected.add(visit, result)
    assert expected.clicks == {"glucoguard": 1}
    # Credits only: the purchase and the rebill; the impression (kpi) and the refund
    # (reversal) count in payout, not in conversions.
    assert expected.conversions == {"glucoguard": 2}
    assert expected.payout == {"glucoguard": Decimal("16.665")}
    assert expected.issues == {"duplicate": 1, "invalid": 1, "bad_token": 1,
                               "too_large": 1, "test": 1}


def test_token_offers_and_unknown_clicks() -> None:
    sleepwave = OFFERS["sleepwave"]  # fixed 45.00 per purchase, token required
    paid = outcomes(Visit(0.0, sleepwave, {}, [Send("postback", "purchase", Decimal(9), "R1")]))
    assert paid[0].payout == Decimal("45.00") and not paid[0].reason
    lost = outcomes(Visit(0.0, sleepwave, {}, [Send("postback", "purchase", Decimal(9), "R2")],
                          clicked=False))
    assert lost[0].reason == "unknown_click"


def test_offer_mix_and_settings_are_checked() -> None:
    assert offer_mix(settings(offers="keto=2,fitness=0"), OFFERS) == {"keto": 2.0}
    assert offer_mix(settings(), OFFERS) == dict.fromkeys(OFFERS, 1.0)
    with pytest.raises(SettingsError, match="nope"):
        offer_mix(settings(offers="nope=1"), OFFERS)
    with pytest.raises(SettingsError, match="HOPSTREAM_SIMULATE_FUNNEL: unknown 'buy'"):
        settings(funnel="buy=0.5")
    with pytest.raises(SettingsError, match="refund is a probability"):
        settings(funnel="refund=2")
    with pytest.raises(SettingsError, match="HOPSTREAM_SIMULATE_FAULTS: 'macro' is not"):
        settings(faults="macro")


def test_click_id_found_in_the_rendered_redirect() -> None:
    offer = Offer(id="x", tracking_url="https://v.hop.clickbank.net/?src={traffic_source}"
                  "&tid={click_id}&c={campaign}",
                  payouts=[PayoutRule(event="*", payout="postback")])
    location = "https://v.hop.clickbank.net/?src=fb%20ads&tid=0190abc&c="
    match = click_id_pattern(offer).fullmatch(location)
    assert match is not None and match["click_id"] == "0190abc"
