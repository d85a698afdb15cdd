"""bench/floor.py: the handling floor measures every step, on the path that converts."""

from __future__ import annotations

from bench.floor import STEPS, floor_us


def test_every_step_is_measured_on_postbacks_that_convert() -> None:
    steps = floor_us(300, rounds=1)  # raises unless every postback converted
    assert tuple(steps) == STEPS
    assert all(us > 0 for us in steps.values())
