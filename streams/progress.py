"""How far the worker has read each partition's clicks: the clock a waiting postback's
grace period counts on.

A postback that waits (for its click, its offer, or the credit it reverses) used to wait
`HOPSTREAM_LATE_CLICK_GRACE_S` of the worker's wall clock. After an outage, or while the
worker works through a backlog in which it happens to read postbacks ahead of clicks, the
wall clock runs out before the worker has even read the clicks that were published
alongside the postback: real sales became `unknown_click` for good.

The grace period now counts in what the worker has read. A postback published at T may
give up once the worker has read every click of its partition published up to T + grace:

- while the worker is behind on a partition's raw clicks, the partition's clock is the
  publish time (record timestamp) of the newest click it has handled there;
- once it has handled everything the partition holds, the clock is the wall clock: no
  click it has not seen was published before now.

Pure logic; the tick (`streams.processor`) feeds it the broker's high watermark and the
consumer's position.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Partition:
    newest_ms: int = 0  # publish time of the newest click handled
    next_offset: int | None = None  # offset after the last click handled in this process
    idle_position: int | None = None  # position seen caught up at the previous tick


@dataclass(slots=True)
class ClickProgress:
    partitions: dict[int, _Partition] = field(default_factory=dict)

    def handled(self, partition: int, offset: int, published_ms: int) -> None:
        """A click of `partition` at `offset`, published at `published_ms`, was handled."""
        state = self.partitions.setdefault(partition, _Partition())
        state.newest_ms = max(state.newest_ms, published_ms)
        state.next_offset = offset + 1

    def now(self, partition: int, high_watermark: int | None, position: int | None,
            wall_ms: int) -> int:
        """The partition's clock at a tick (ms since the epoch, publish-time scale).

        `high_watermark` is the broker's end of the partition as last fetched (None before
        the first fetch), `position` the consumer's next offset to fetch. Once a click was
        handled here, being caught up means having handled up to the high watermark.
        Before that, the consumer's position is all there is, and it runs ahead of what
        was handled (fetched records wait in a buffer): it counts as caught up only when
        two ticks in a row saw it at the high watermark and unchanged, so whatever was
        fetched before the first of them has been handled by the second."""
        state = self.partitions.setdefault(partition, _Partition())
        if high_watermark is None:
            return state.newest_ms
        if state.next_offset is not None:
            caught_up = state.next_offset >= high_watermark
        else:
            at_end = position is not None and position >= high_watermark
            caught_up = at_end and state.idle_position == position
            state.idle_position = position if at_end else None
        return wall_ms if caught_up else state.newest_ms
