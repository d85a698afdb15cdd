"""What the worker does with each event: a click, a postback, or a partition tick.

One agent consumes raw clicks, raw postbacks and the worker's tick topic together (all
keyed by click id, all with the same partition count), so everything about one click is
handled by one worker, in order, one event at a time: no two handlers race on a click's
state. Every table write happens while handling an event of the key's partition, which is
what Faust needs to write it to the right changelog partition.

Exactly one outcome per postback, even across crashes (delivery is at least once; Faust
flushes everything produced before it commits an offset):
- a postback whose click is known is settled at once; its decision goes to the ledger;
- a postback whose click is unknown is parked in `pending` (deduplicated by postback id);
- a click settles its parked postbacks; a tick settles those whose grace period is over
  as `unknown_click`. Parked entries are deleted only by a tick, after the outcomes were
  acknowledged by the broker (one `producer.flush()` per partition and tick, not one per
  click), so a crash in between replays them, and the ledger makes the replay re-emit
  the same decision.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas.codec import decode, encode
from schemas.messages import Click, Conversion, Postback, PostbackIssue
from streams.join import issue_for, settle
from streams.ledger import Ledger
from streams.offers_view import OffersView
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


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Processor:
    def __init__(self, app: Any, settings: Settings, offers: OffersView, tables: Any,
                 conversions: Any, issues: Any) -> None:
        self.app = app
        self.settings = settings
        self.offers = offers
        self.clicks, self.pending, self.ledger = tables
        self.conversions = conversions
        self.issues = issues
        self.io = TableIO(app)
        self.last_sweep_ms: dict[int, int] = {}

    # --- clicks -------------------------------------------------------------------------
    async def on_click(self, key: bytes, raw: bytes) -> None:
        try:
            click = decode(Click, raw)
        except ValueError:
            # A malformed click cannot be joined to anything; the raw topic keeps it.
            log.exception("cannot process click with key %r", key)
            return
        self.io.put(self.clicks, key, encode_click(click))
        parked = decode_parked(self.io.get(self.pending, key))
        if parked:
            # Settled now; the entry is deleted by the next tick, after a flush (see above).
            self._settle(key, click, parked)

    # --- postbacks ------------------------------------------------------------------------
    async def on_postback(self, key: bytes, raw: bytes) -> None:
        try:
            postback = decode(Postback, raw)
            click_raw = self.io.get(self.clicks, key)
            if click_raw is not None:
                self._settle(key, decode_click(click_raw), [Parked(0, postback.postback_id, raw)])
            elif self._replayable_without_click(key, postback.postback_id):
                self._settle(key, None, [Parked(0, postback.postback_id, raw)])  # a replay
            else:
                self._park(key, postback.postback_id, raw)
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

    def _park(self, key: bytes, postback_id: str, raw: bytes) -> None:
        parked = decode_parked(self.io.get(self.pending, key))
        if any(p.postback_id == postback_id for p in parked):
            return  # a replay of a postback already waiting
        parked.append(Parked(now_ms(), postback_id, raw))
        self.io.put(self.pending, key, encode_parked(parked))

    def _settle(self, key: bytes, click: Click | None, postbacks: list[Parked]) -> None:
        """Decide each postback against the click's ledger, record, then emit."""
        ledger = Ledger.decode(self.io.get(self.ledger, key))
        decided = len(ledger.decisions)
        out: list[Conversion | PostbackIssue] = []
        for parked in postbacks:
            try:
                postback = decode(Postback, parked.message)
                offer = self.offers.get(click.offer_id) if click is not None else None
                out.append(settle(click, offer, postback, ledger, now_ms()))
            except Exception as exc:
                self.processing_error(parked.message, exc)
        messages = [(o, encode(o)) for o in out]  # encode before recording anything
        if len(ledger.decisions) != decided:
            self.io.put(self.ledger, key, ledger.encode())
        for message, value in messages:
            target = self.conversions if isinstance(message, Conversion) else self.issues
            self.io.emit(target, message.click_id.encode(), value)

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
        """Expire waiting postbacks past the grace period, and clear the ones their click
        completed; one broker round trip for the whole partition."""
        deadline = now_ms() - int(self.settings.late_click_grace_s * 1000)
        remaining: dict[bytes, list[Parked]] = {}
        for key, raw in self.io.items(self.pending, partition):
            parked = decode_parked(raw)
            if self.io.get(self.clicks, key) is not None:
                remaining[key] = []  # settled when the click came: decisions in the ledger
                continue
            expired = [p for p in parked if p.at_ms <= deadline]
            if expired:
                self._settle(key, None, expired)
                remaining[key] = [p for p in parked if p.at_ms > deadline]
        if not remaining:
            return
        await self.io.send()
        await self.app.producer.flush()
        for key, waiting in remaining.items():
            if waiting:
                self.io.put(self.pending, key, encode_parked(waiting))
            else:
                self.io.delete(self.pending, key)

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
        ledgers = {key: Ledger.decode(raw) for key, raw in self.io.items(self.ledger, partition)}

        def credit_pending(key: bytes) -> bool:
            ledger = ledgers.get(key)
            return (ledger is not None and ledger.holds_credit()
                    and ledger.touched_ms >= credit_cutoff_ms)

        old_clicks = [key for key, raw in self.io.items(self.clicks, partition)
                      if clicked_at_micros(raw) // 1000 < cutoff_ms and not credit_pending(key)]
        for key in old_clicks:
            self.io.delete(self.clicks, key)
        old_ledgers = [key for key, ledger in ledgers.items()
                       if ledger.touched_ms < cutoff_ms and not credit_pending(key)]
        for key in old_ledgers:
            self.io.delete(self.ledger, key)
        if old_clicks or old_ledgers:
            log.info("partition %d: swept %d clicks and %d ledgers older than %d days",
                     partition, len(old_clicks), len(old_ledgers), keep_ms // DAY_MS)

