"""streams.ledger: what a click still has credited decides whether it may be swept."""

from __future__ import annotations

from decimal import Decimal

import orjson

from streams.ledger import Decision, Ledger


def credit(ledger: Ledger, pid: str, event: str, receipt: str, payout: str) -> None:
    ledger.record(pid, Decision(converted=True, payout=Decimal(payout)), event, receipt, 1)


def test_a_fresh_ledger_holds_no_credit() -> None:
    assert not Ledger().holds_credit()


def test_credit_is_held_until_every_receipt_is_reversed() -> None:
    ledger = Ledger()
    credit(ledger, "p1", "purchase", "SALE0001", "37.45")
    credit(ledger, "p2", "upsell", "UPS00001", "19.99")
    credit(ledger, "p3", "refund", "SALE0001", "-37.45")
    assert ledger.holds_credit()  # the upsell is still credited
    credit(ledger, "p4", "refund", "UPS00001", "-19.99")
    assert not ledger.holds_credit()


def test_kpi_conversions_alone_hold_no_credit() -> None:
    ledger = Ledger()
    credit(ledger, "p1", "order_form_impression", "", "0")
    assert not ledger.holds_credit()


def test_holding_survives_the_storage_round_trip() -> None:
    ledger = Ledger()
    credit(ledger, "p1", "purchase", "SALE0001", "37.45")
    assert Ledger.decode(ledger.encode()).holds_credit()


def test_touched_at_reads_the_front_of_new_values_and_decodes_older_ones() -> None:
    ledger = Ledger(touched_ms=1_700_000_000_123)
    credit(ledger, "p1", "purchase", "R1", "10.00")
    ledger.touched_ms = 1_700_000_000_123
    raw = ledger.encode()
    assert raw.startswith(b'{"t":1700000000123,')
    assert Ledger.touched_at(raw) == 1_700_000_000_123
    assert Ledger.touched_at(Ledger(touched_ms=5).encode()) == 5  # nothing else in it
    # As written before "t" came first: still read, by decoding.
    older = orjson.dumps({"c": [], "d": {}, "t": 42})
    assert Ledger.touched_at(older) == 42
    assert Ledger.decode(raw).credits == ledger.credits
