"""hopstream.ids: UUIDv7 click/postback ids as 32 lowercase hex characters."""

from __future__ import annotations

import re
import time
import uuid

from hopstream.ids import id_time_ms, new_id

TID = re.compile(r"^[a-z0-9_]{1,100}$")  # ClickBank's tid rule


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_is_32_lowercase_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", new_id())


def test_is_uuid_version_7_with_rfc4122_variant() -> None:
    value = uuid.UUID(hex=new_id())
    assert value.variant == uuid.RFC_4122
    assert value.version == 7


def test_matches_clickbank_tid_rule() -> None:
    assert TID.match(new_id())


def test_unique_over_10k_calls() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)


def test_id_from_a_later_millisecond_sorts_after() -> None:
    first = new_id()
    start = id_time_ms(first)
    while _now_ms() <= start:
        time.sleep(0.0005)
    second = new_id()
    assert id_time_ms(second) > id_time_ms(first)
    assert second > first


def test_id_time_ms_is_the_creation_time() -> None:
    before = _now_ms()
    value = new_id()
    after = _now_ms()
    assert before <= id_time_ms(value) <= after


def test_id_time_ms_reads_the_first_48_bits() -> None:
    assert id_time_ms("0190f1a2b3c4" + "7" + "0" * 19) == 0x0190F1A2B3C4
