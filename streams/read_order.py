"""Which partitions' postbacks the worker holds back, so that it reads their clicks first.

A postback names a click published before it. While the worker is behind on a
partition (a backlog after an outage or a deploy, a new worker catching up), it fetches
that partition's raw clicks and raw postbacks side by side, so about half the postbacks
were read before their click: each was parked in the `pending` table (a RocksDB write
and a changelog record), settled when the click came, and deleted by the next tick
(another write and record). On the streams benchmark that was two thirds of the
postbacks, and the parking cost as much as deciding them.

So postbacks are read in publish-time order with their clicks, the way Kafka Streams
aligns the partitions of a join: while a partition's clicks are behind (not all read up to
the broker's high watermark) and the newest postback handled there is newer than the
newest click handled there, the partition's raw postbacks are held back: the consumer
does not hand them over (`streams.batch_consumer`), they wait in its fetch buffer, unread
and so unacknowledged, and the clicks go on. Nothing is decided differently: holding back
only changes the order in which messages of different topics are handled, a postback
whose click is still missing when it is read waits in `pending` as before, and the grace
period counts on the clicks read (`streams.progress`).

Bounded: a partition is held back at most `MAX_HOLD_S` at a time (then its postbacks are
read whatever the clicks do, until one of them is handled), so a click partition that
stops moving (paused, or its high watermark stale) cannot stall the postbacks.

Pure logic; the consumer gives the fetch positions and high watermarks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from streams.progress import ClickProgress

log = logging.getLogger(__name__)

MAX_HOLD_S = 2.0

# (position, high watermark) of a clicks partition in the consumer, each None if unknown;
# None for a partition not assigned here
FetchState = tuple[int | None, int | None] | None


@dataclass(slots=True)
class ReadOrder:
    clicks: ClickProgress
    max_hold_s: float = MAX_HOLD_S
    clock: Callable[[], float] = time.monotonic
    newest_postback_ms: dict[int, int] = field(default_factory=dict)
    holding_since: dict[int, float] = field(default_factory=dict)
    released: set[int] = field(default_factory=set)  # held for max_hold_s: read anyway

    def postback_handled(self, partition: int, published_ms: int) -> None:
        newest = self.newest_postback_ms.get(partition, 0)
        if published_ms > newest:
            self.newest_postback_ms[partition] = published_ms
        self.released.discard(partition)
        self.holding_since.pop(partition, None)

    def reset(self) -> None:
        """Partitions were (re)assigned: what was read before says nothing any more."""
        self.newest_postback_ms.clear()
        self.holding_since.clear()
        self.released.clear()

    def held(self, partitions: Iterable[int], fetch_state: Callable[[int], FetchState]
             ) -> set[int]:
        """The partitions (of those given) whose postbacks should not be read now."""
        now = self.clock()
        held: set[int] = set()
        for partition in partitions:
            if partition in self.released or not self._clicks_first(partition, fetch_state):
                self.holding_since.pop(partition, None)
                continue
            since = self.holding_since.setdefault(partition, now)
            if now - since >= self.max_hold_s:
                self.released.add(partition)
                del self.holding_since[partition]
                log.info("partition %d: postbacks read although its clicks are behind "
                         "(held back %.1f s)", partition, now - since)
                continue
            held.add(partition)
        return held

    def _clicks_first(self, partition: int, fetch_state: Callable[[int], FetchState]) -> bool:
        fetched = fetch_state(partition)
        if fetched is None:
            return False
        position, high_watermark = fetched
        if high_watermark is None:
            # Not fetched yet (just assigned): the first fetch says how far behind it is.
            return True
        state = self.clicks.partitions.get(partition)
        handled_to = state.next_offset if state is not None else None
        behind = (position is not None and position < high_watermark) or (
            handled_to is not None and handled_to < high_watermark)
        if not behind:
            return False
        newest_click = state.newest_ms if state is not None else 0
        # Nothing read here yet: the clicks go first; otherwise only while the postbacks
        # have run ahead of the clicks.
        newest_postback = self.newest_postback_ms.get(partition)
        return newest_postback is None or newest_postback > newest_click
