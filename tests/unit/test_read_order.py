"""streams.read_order: a partition's postbacks wait while its clicks are read first."""

from __future__ import annotations

from types import SimpleNamespace

from hopstream.settings import Settings
from streams.processor import Processor
from streams.progress import ClickProgress
from streams.read_order import FetchState, ReadOrder


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def order(clicks: ClickProgress | None = None) -> tuple[ReadOrder, Clock]:
    clock = Clock()
    return ReadOrder(clicks or ClickProgress(), max_hold_s=2.0, clock=clock), clock


def fetch(**states: FetchState) -> dict[int, FetchState]:
    return {int(k[1:]): v for k, v in states.items()}


def postbacks_ahead(clicks_to: int) -> tuple[ReadOrder, ClickProgress]:
    """Partition 0's clicks handled up to offset `clicks_to` (published at 1 s), its
    postbacks up to 5 s: the postbacks have run ahead of the clicks."""
    clicks = ClickProgress()
    clicks.handled(0, offset=clicks_to, published_ms=1_000)
    ro, _ = order(clicks)
    ro.postback_handled(0, 5_000)
    return ro, clicks


def test_postbacks_wait_while_their_clicks_are_behind_and_older() -> None:
    ro, clicks = postbacks_ahead(clicks_to=99)
    assert ro.held([0], fetch(p0=(100, 500)).get) == {0}
    # The clicks catch up in time: the postbacks go on, although clicks remain.
    clicks.handled(0, offset=199, published_ms=5_000)
    assert ro.held([0], fetch(p0=(200, 500)).get) == set()


def test_nothing_waits_once_the_clicks_are_all_read() -> None:
    ro, _ = postbacks_ahead(clicks_to=499)
    assert ro.held([0], fetch(p0=(500, 500)).get) == set()


def test_fetched_but_unhandled_clicks_still_count_as_behind() -> None:
    ro, _ = postbacks_ahead(clicks_to=99)
    # Everything fetched (position at the end), but clicks 100..499 wait in the buffer.
    assert ro.held([0], fetch(p0=(500, 500)).get) == {0}


def test_before_anything_is_read_the_clicks_go_first() -> None:
    ro, _ = order()
    # Not fetched yet, or fetched and behind: hold; caught up from the start: do not.
    assert ro.held([0, 1, 2], fetch(p0=(0, None), p1=(0, 300), p2=(300, 300)).get) == {0, 1}


def test_partitions_not_assigned_here_are_not_held() -> None:
    ro, _ = order()
    assert ro.held([0], fetch().get) == set()


def test_a_partition_is_held_at_most_max_hold_s_then_read_until_a_postback_is_handled() -> None:
    ro, clock = order()
    stuck = fetch(p0=(0, 300)).get  # clicks that never move
    assert ro.held([0], stuck) == {0}
    clock.now += 1.9
    assert ro.held([0], stuck) == {0}
    clock.now += 0.2
    assert ro.held([0], stuck) == set()
    clock.now += 10
    assert ro.held([0], stuck) == set()  # released until a postback is handled
    ro.postback_handled(0, 1)
    assert ro.held([0], stuck) == {0}  # a new episode, with its own time limit
    clock.now += 2.1
    assert ro.held([0], stuck) == set()


def test_partitions_are_independent_and_reset_forgets_everything() -> None:
    clicks = ClickProgress()
    for p in (0, 1):
        clicks.handled(p, offset=9, published_ms=1_000)
    ro, _ = order(clicks)
    ro.postback_handled(0, 5_000)
    ro.postback_handled(1, 500)  # behind its clicks: nothing to wait for
    behind = fetch(p0=(10, 100), p1=(10, 100)).get
    assert ro.held([0, 1], behind) == {0}
    ro.reset()
    # Nothing known about the postbacks read since: the clicks go first again.
    assert ro.held([0, 1], behind) == {0, 1}


def test_a_processor_forgets_how_far_clicks_were_read_when_partitions_are_assigned() -> None:
    """Faust reads every assigned partition again from its committed offset: click
    progress from before would make a caught-up partition look behind for good."""
    processor = Processor(SimpleNamespace(), Settings.from_env({}), None, (None, None, None),
                          conversions=None, issues=None)
    processor.progress.handled(0, offset=99, published_ms=1_000)
    ro, _ = order(processor.progress)
    ro.postback_handled(0, 5_000)
    # The partition went to another worker, which read it to the end (500), and came back.
    caught_up = fetch(p0=(500, 500)).get
    assert ro.held([0], caught_up) == {0}  # what this process handled before says "behind"
    processor.assigned()
    ro.reset()
    ro.postback_handled(0, 5_000)
    assert ro.held([0], caught_up) == set()
