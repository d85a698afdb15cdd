"""streams.progress: the clock a waiting postback's grace period counts on."""

from __future__ import annotations

from streams.progress import ClickProgress

WALL = 10_000_000


def test_behind_the_clock_is_the_newest_click_handled() -> None:
    progress = ClickProgress()
    progress.handled(0, offset=41, published_ms=5_000)
    progress.handled(0, offset=42, published_ms=4_000)  # receivers' clocks differ a little
    assert progress.now(0, high_watermark=100, position=60, wall_ms=WALL) == 5_000


def test_caught_up_the_clock_is_the_wall_clock() -> None:
    progress = ClickProgress()
    progress.handled(0, offset=99, published_ms=5_000)
    assert progress.now(0, high_watermark=100, position=100, wall_ms=WALL) == WALL
    # New clicks were published since: behind again until they are handled.
    assert progress.now(0, high_watermark=250, position=100, wall_ms=WALL) == 5_000


def test_partitions_have_clocks_of_their_own() -> None:
    progress = ClickProgress()
    progress.handled(1, offset=9, published_ms=7_000)
    assert progress.now(1, high_watermark=10, position=10, wall_ms=WALL) == WALL
    assert progress.now(2, high_watermark=10, position=3, wall_ms=WALL) == 0


def test_nothing_fetched_yet_means_nothing_is_known() -> None:
    progress = ClickProgress()
    assert progress.now(0, high_watermark=None, position=None, wall_ms=WALL) == 0


def test_without_a_click_handled_the_position_must_stay_at_the_end_for_two_ticks() -> None:
    # The position runs ahead of what was handled (fetched records wait in a buffer):
    # at the end once could still mean clicks fetched and not handled.
    progress = ClickProgress()
    assert progress.now(0, high_watermark=0, position=0, wall_ms=WALL) == 0
    assert progress.now(0, high_watermark=0, position=0, wall_ms=WALL + 1) == WALL + 1
    progress = ClickProgress()
    assert progress.now(0, high_watermark=50, position=50, wall_ms=WALL) == 0
    assert progress.now(0, high_watermark=80, position=80, wall_ms=WALL) == 0  # moved
    assert progress.now(0, high_watermark=80, position=80, wall_ms=WALL) == WALL
