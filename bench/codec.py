"""`make bench-codec`: what `schemas.codec` costs per message, before and after its fast path.

For the messages the streams worker decodes (Click, Postback) and encodes (Conversion,
PostbackIssue), times `decode(cls, bytes)` and `encode(message)` against the codec as it
was before the generated decoders and encoders (`tests/unit/codec_reference.py`, kept
verbatim), and prints the median ns per call over the rounds and the ratio old / new.
Old and new run in turns within each round, so a noisy neighbour slows both alike.
Single-threaded and about a second long by default.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from schemas.codec import decode, encode
from tests.unit import samples
from tests.unit.codec_reference import reference_decode, reference_encode

MESSAGES = [samples.click(), samples.postback(), samples.conversion(), samples.issue()]


def _ns_per_call(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(number):
        fn()
    return (time.perf_counter_ns() - start) / number


def _pairs(message: Any) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    cls, wire = type(message), encode(message)
    assert wire == reference_encode(message), f"{cls.__name__}: not the reference bytes"
    assert repr(decode(cls, wire)) == repr(reference_decode(cls, wire)), cls.__name__
    return {
        "decode": (lambda: reference_decode(cls, wire), lambda: decode(cls, wire)),
        "encode": (lambda: reference_encode(message), lambda: encode(message)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--number", type=int, default=2000, help="calls per timing")
    args = parser.parse_args()
    print(f"median ns per call over {args.rounds} rounds of {args.number} calls")
    print(f"{'message':<14}{'op':<8}{'old':>9}{'new':>9}{'old/new':>9}")
    for message in MESSAGES:
        for op, (old, new) in _pairs(message).items():
            times: dict[str, list[float]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                times["old"].append(_ns_per_call(old, args.number))
                times["new"].append(_ns_per_call(new, args.number))
            before, after = (statistics.median(times[k]) for k in ("old", "new"))
            print(f"{type(message).__name__:<14}{op:<8}{before:>9,.0f}{after:>9,.0f}"
                  f"{before / after:>8.2f}x")


if __name__ == "__main__":
    main()
