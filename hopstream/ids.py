"""Time-ordered ids: UUIDv7 as 32 lowercase hex characters.

Used for click ids and postback ids. A click id travels to ClickBank as `tid`, which allows
up to 100 characters of digits, lowercase letters and underscore: hex fits, sorts by time
(ClickHouse keeps related rows close), and survives an integration that upper-cases it
(the receiver lowercases what comes back).
"""

from __future__ import annotations

import os
import time

_MS_MASK = (1 << 48) - 1
_RAND_B_MASK = (1 << 62) - 1


def new_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = (rand >> 62) & 0x0FFF  # 12 random bits after the version nibble
    rand_b = rand & _RAND_B_MASK  # 62 random bits after the variant bits
    value = (ms & _MS_MASK) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return f"{value:032x}"


def id_time_ms(value: str) -> int:
    """The millisecond timestamp embedded in an id made by `new_id`."""
    return int(value[:12], 16)
