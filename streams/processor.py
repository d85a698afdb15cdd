"""What the worker does with each event: a click, a postback, or a partition tick.

One handler (`streams.dispatch`) consumes raw clicks, raw postbacks and the worker's tick
topic together (all keyed by click id, all with the same partition count), so everything
about one click is handled by one worker, in order, one event at a time: no two handlers
race on a click's state. Every table write happens while handling an event of the key's
partition, which is what it takes to write it to the right changelog partition.

Exactly one outcome per postback, even across crashes (delivery is at least once; a batch
is acknowledged once what it produced is with the producer, and Faust flushes the
producer before it commits an offset: `streams.batch_consumer`):
- a postback that can be decided is settled at once; its decision goes to the ledger;
- one that has to wait (`streams.join.WAITING`: its click, its offer or the credit it
  reverses has not arrived) is parked in `pending` (deduplicated by postback id);
- a click, and a postback that adds credit to a click, retry that click's waiting
  postbacks; a tick retries those of its partition (an offer may have been published) and
  settles for good those whose grace period is over on the partition's clock
  (`streams.progress`).
Parked entries are deleted only by a tick, after the broker acknowledged everything
produced while settling them (their outcomes and ledger records), so a crash in between
replays them, and the ledger makes the replay re-emit the same decision.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faust.types import TP

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode, encode
from schemas.messages import Click, Conversion, Postback, PostbackIssue
from streams.join import issue_for, settle
from streams.ledger import Decision, Ledger
from streams.offers_view import OffersView
from streams.progress import ClickProgress
from streams.state import (
    Parked,
    clicked_at_micros,
    decode_click,
    decode_parked,
    encode_click,
    encode_parked,
)
from streams.tableio import TableIO

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# How long a click whose ledger still holds credit is kept after the ledger last changed:
# ClickBank refunds within 60 days of a sale, and chargebacks arrive months later.
REVERSAL_HORIZON_DAYS = 180
DEFAULT_WINDOW_DAYS = 60
# `Processor._settle`'s final_until_ms: every postback decided for good, or none.
ALL, NONE = 2**63, -(2**63)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Settled:
    waiting: list[Parked]  # postbacks that wait on (for their click, offer or credit)
    added: bool  # a credit was added to the click's ledger


class Processor:
    def __init__(self, app: Any, settings: Settings, offers: OffersView, tables: Any,
                 conversions: Any, issues: Any) -> None:
        self.app = app
        self.settings = settings
        self.offers = offers
        self.clicks, self.pending, self.ledger = tables
        self.conversions = conversions
        self.issues = issues
        self.io = TableIO(app, settings.store_flush_s)
        self.progress = ClickProgress()
        self.last_sweep_ms: dict[int, int] = {}
        # Parked postbacks this process settled outside a tick: the tick deletes them
        # after its barrier. One settled before a restart (not in here) is emitted again,
        # since its outcome may not have reached the broker.
        self.settled_parked: set[str] = set()
        # Partitions whose waiting postbacks this process has all looked at since it was
        # (re)assigned them: another worker may have decided some in between.
        self.scanned: set[int] = set()

    def assigned(self) -> None:
        """Partitions were (re)assigned: look at their waiting postbacks afresh, and
        forget how far clicks were read (Faust reads every assigned partition again from
        its committed offset; a partition handled here before, then elsewhere, would
        otherwise look behind for good)."""
        self.scanned.clear()
        self.progress.partitions.clear()

    # --- clicks -------------------------------------------------------------------------
    async def on_click(self, key: bytes, raw: bytes, partition: int, offset: int,
                       published_ms: int | None) -> None:
        self.progress.handled(partition, offset, published_ms or now_ms())
        try:
            click = decode(Click, raw)
        except ValueError:
            # A malformed click cannot be joined to anything; the raw topic keeps it.
            log.exception("cannot process click with key %r", key)
            return
        self.io.put(self.clicks, key, encode_click(click))
        self._retry_parked(key, click)

    # --- postbacks ------------------------------------------------------------------------
    async def on_postback(self, key: bytes, raw: bytes, published_ms: int | None) -> None:
        try:
            postback = decode(Postback, raw)
            click_raw = self.io.get(self.clicks, key)
            click = decode_click(click_raw) if click_raw is not None else None
            entry = Parked(published_ms or now_ms(), postback.postback_id, raw, postback)
            if click is None and not self._replayable_without_click(key, postback.postback_id):
                self._park(key, [entry])
                return
            credits = self._settle(key, click, [entry], NONE)
            if credits.waiting:
                self._park(key, credits.waiting)
            elif credits.added and click is not None:
                self._retry_parked(key, click)
        except Exception as exc:
            self.processing_error(raw, exc)

    def _replayable_without_click(self, key: bytes, postback_id: str) -> bool:
        """A replayed postback decided without its click (`unknown_click`) is re-emitted
        at once. One decided with its click needs it to re-emit the same message, and the
        click can be missing after a crash although the ledger is not: the two changelogs
        are separate topics, delivered independently. The click's own offset was then not
        committed, so it is replayed too: the postback waits for it like any early one."""
        decision = Ledger.decode(self.io.get(self.ledger, key)).decisions.get(postback_id)
        return decision is not None and decision.reason == "unknown_click"

    def _park(self, key: bytes, entries: list[Parked]) -> None:
        parked = decode_parked(self.io.get(self.pending, key))
        known = {p.postback_id for p in parked}
        new = [p for p in entries if p.postback_id not in known]  # replays already wait
        if new:
            self.io.put(self.pending, key, encode_parked(parked + new))

    def _retry_parked(self, key: bytes, click: Click) -> None:
        """Settle what waits on this click now that something arrived (the click, or a
        credit a waiting reversal needs); what still waits stays parked for the tick."""
        parked = decode_parked(self.io.get(self.pending, key))
        for _ in range(len(parked)):  # each round settles one more, or stops
            decided = Ledger.decode(self.io.get(self.ledger, key)).decisions
            open_ = [p for p in parked if p.postback_id not in decided]
            if not open_:
                return
            result = self._settle(key, click, open_, NONE)
            settled = {p.postback_id for p in open_} - {p.postback_id for p in result.waiting}
            self.settled_parked |= settled
            if not (settled and result.added):
                return

    def _settle(self, key: bytes, click: Click | None, postbacks: list[Parked],
                final_until_ms: int = ALL) -> Settled:
        """Decide each postback against the click's ledger, record, then emit.

        Postbacks published after `final_until_ms` may wait (`NONE`: all of them);
        those published at or before it are decided for good (their grace is over)."""
        ledger = Ledger.decode(self.io.get(self.ledger, key))
        decided, credits = len(ledger.decisions), len(ledger.credits)
        out: list[Conversion | PostbackIssue] = []
        waiting: list[Parked] = []
        for parked in postbacks:
            is_final = parked.at_ms <= final_until_ms
            try:
                postback = parked.postback or decode(Postback, parked.message)
                offer = self.offers.get(click.offer_id) if click is not None else None
                result = settle(click, offer, postback, ledger, now_ms(), is_final)
            except Exception as exc:
                self._record_error(ledger, parked, exc)
                continue
            if result is None:
                waiting.append(parked)
            else:
                out.append(result)
        messages = [(o, encode(o)) for o in out]  # encode before recording anything
        if len(ledger.decisions) != decided:
            self.io.put(self.ledger, key, ledger.encode())
        for message, value in messages:
            target = self.conversions if isinstance(message, Conversion) else self.issues
            self.io.emit(target, message.click_id.encode(), value)
        return Settled(waiting, added=len(ledger.credits) > credits)

    def _record_error(self, ledger: Ledger, parked: Parked, exc: Exception) -> None:
        """A processing error is the postback's outcome: remembered like any decision, so a
        parked postback is not retried (and reported) again at every tick."""
        ledger.decisions.setdefault(parked.postback_id, Decision(
            converted=False, reason="processing_error", detail=f"{type(exc).__name__}: {exc}"))
        self.processing_error(parked.message, exc)

    def processing_error(self, raw: bytes, exc: Exception) -> None:
        log.error("processing failed; recorded as processing_error", exc_info=exc)
        try:
            postback = decode(Postback, raw)
            issue = issue_for(postback, "processing_error", f"{type(exc).__name__}: {exc}")
        except Exception:  # not even a Postback: keep the bytes
            issue = PostbackIssue(
                postback_id=new_id(), reason="processing_error",
                detail=f"undecodable postback message: {type(exc).__name__}: {exc}",
                received_at=datetime.now(UTC), raw=raw.decode("utf-8", errors="replace"),
            )
        self.io.emit(self.issues, issue.click_id.encode() or None, encode(issue))

    # --- ticks ------------------------------------------------------------------------------
    async def on_tick(self, partition: int) -> None:
        await self._settle_parked(partition)
        if now_ms() - self.last_sweep_ms.get(partition, 0) >= self.settings.click_sweep_s * 1000:
            self.last_sweep_ms[partition] = now_ms()
            self._sweep(partition)

    async def _settle_parked(self, partition: int) -> None:
        """Retry the partition's waiting postbacks (an offer may have been published),
        settle for good those whose grace period is over on the partition's clock, and
        delete the entries settled since the last tick, once the broker has acknowledged
        everything produced for them."""
        deadline = await self._clock(partition) - int(self.settings.late_click_grace_s * 1000)
        remaining: dict[bytes, list[Parked]] = {}
        dropped: set[str] = set()
        # Catching up on a backlog, hundreds of thousands of postbacks can wait at once
        # (read ahead of their clicks): the tick looks at each, so it skips the work that
        # cannot change anything (at 1,000,000 clicks, ticks took half the worker's time).
        known = partition in self.scanned
        for key, raw in self.io.items(self.pending, partition):
            parked = decode_parked(raw)
            if all(p.postback_id in self.settled_parked for p in parked):
                remaining[key] = []  # settled here, since the last tick
                dropped.update(p.postback_id for p in parked)
                continue
            click_raw = self.io.get(self.clicks, key)
            if click_raw is None and known and all(p.at_ms > deadline for p in parked):
                # Waits for its click, and nothing else can settle it: once this process
                # has looked at the whole partition, such an entry holds no decision.
                continue
            click = decode_click(click_raw) if click_raw is not None else None
            decisions = Ledger.decode(self.io.get(self.ledger, key)).decisions
            # A credited postback needs its click to be emitted again; after a crash the
            # click can be restored later than the ledger: wait for it.
            blocked = {p.postback_id for p in parked if click is None
                       and (d := decisions.get(p.postback_id)) is not None and d.converted}
            # Settled, but not by this process: the outcome may not have reached the
            # broker before a restart. The ledger re-emits the same decision.
            unsure = [p for p in parked if p.postback_id in decisions
                      and p.postback_id not in self.settled_parked
                      and p.postback_id not in blocked]
            if unsure:
                self._settle(key, click, unsure)
            open_ = [p for p in parked if p.postback_id not in decisions]
            waiting = self._settle(key, click, open_, deadline).waiting if open_ else []
            keep = {p.postback_id for p in waiting} | blocked
            if len(keep) != len(parked):
                remaining[key] = [p for p in parked if p.postback_id in keep]
                dropped.update(p.postback_id for p in parked if p.postback_id not in keep)
        self.scanned.add(partition)
        if not remaining:
            return
        # The barrier: everything produced so far (this tick's outcomes and ledger records,
        # and those of the entries settled since the last tick) acknowledged by the
        # broker, or the tick fails and the entries stay.
        await self.io.acknowledged()
        for key, kept in remaining.items():
            if kept:
                self.io.put(self.pending, key, encode_parked(kept))
            else:
                self.io.delete(self.pending, key)
        self.settled_parked -= dropped

    async def _clock(self, partition: int) -> int:
        """The partition's clock for grace periods (`streams.progress`)."""
        tp = TP(topics.RAW_CLICKS.name, partition)
        consumer = self.app.consumer
        try:
            high_watermark = consumer.highwater(tp)
            position = await consumer.position(tp)
        except Exception:  # not assigned (a rebalance under way): nothing expires yet
            high_watermark = position = None
        return self.progress.now(partition, high_watermark, position, now_ms())

    def _sweep(self, partition: int) -> None:
        """Delete clicks and ledgers older than the longest attribution window + 1 day.

        Except where money is still credited: a refund or chargeback can come long after
        the click (ClickBank refunds within 60 days of the sale, chargebacks months later)
        and must find the click and the credit it reverses, so a click whose ledger holds
        credit stays until the ledger has been quiet for REVERSAL_HORIZON_DAYS."""
        windows = [o.attribution_window_days for o in self.offers.offers.values()]
        keep_ms = (max(windows, default=DEFAULT_WINDOW_DAYS) + 1) * DAY_MS
        now = now_ms()
        cutoff_ms = now - keep_ms
        credit_cutoff_ms = now - REVERSAL_HORIZON_DAYS * DAY_MS

        def credit_pending(ledger: Ledger) -> bool:
            return ledger.holds_credit() and ledger.touched_ms >= credit_cutoff_ms

        # One pair at a time (a partition holds ~1/8 of every click): only the keys to
        # delete are kept, and deleted once the scans are over.
        old_clicks = [key for key, raw in self.io.scan(self.clicks, partition)
                      if clicked_at_micros(raw) // 1000 < cutoff_ms
                      and not credit_pending(Ledger.decode(self.io.get(self.ledger, key)))]
        old_ledgers = [key for key, raw in self.io.scan(self.ledger, partition)
                       if Ledger.touched_at(raw) < cutoff_ms
                       and not credit_pending(Ledger.decode(raw))]
        for key in old_clicks:
            self.io.delete(self.clicks, key)
        for key in old_ledgers:
            self.io.delete(self.ledger, key)
        if old_clicks or old_ledgers:
            log.info("partition %d: swept %d clicks and %d ledgers older than %d days",
                     partition, len(old_clicks), len(old_ledgers), keep_ms // DAY_MS)

