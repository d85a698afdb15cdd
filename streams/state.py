"""How the worker stores clicks and waiting postbacks in its tables (bytes <-> values).

Clicks are the bulk of the worker's state (one per click for the longest attribution
window), so they are stored compactly: only what a conversion copies from its click, as
a JSON array whose first element is the click time in microseconds. That keeps RocksDB and
the changelog small and lets the sweep read a click's age without parsing the rest.

Waiting postbacks are stored per click id as a list of [published_ms, postback_id,
postback JSON]: the postback's publish time (its record timestamp) is what its grace period
counts from (`streams.progress`), and it is in the table so that it survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from schemas.messages import Click, Postback

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_click(click: Click) -> bytes:
    micros = (click.clicked_at - EPOCH) // MICROSECOND
    return orjson.dumps([micros, click.click_id, click.offer_id, click.traffic_source,
                         click.campaign, click.creative])


def decode_click(raw: bytes) -> Click:
    micros, click_id, offer_id, traffic_source, campaign, creative = orjson.loads(raw)
    return Click(click_id=click_id, offer_id=offer_id, clicked_at=EPOCH + micros * MICROSECOND,
                 traffic_source=traffic_source, campaign=campaign, creative=creative)


def clicked_at_micros(raw: bytes) -> int:
    """The click time of a stored click, read without decoding the rest."""
    return int(raw[1:raw.index(b",")])


@dataclass(frozen=True, slots=True)
class Parked:
    """A postback waiting for its click."""

    at_ms: int  # when it was published (record timestamp): the grace period counts from here
    postback_id: str
    message: bytes
    # The message decoded, when the caller has it already (not stored: saves a decode).
    postback: Postback | None = field(default=None, compare=False)


def decode_parked(raw: bytes | None) -> list[Parked]:
    if raw is None:
        return []
    return [Parked(at, pid, message.encode()) for at, pid, message in orjson.loads(raw)]


def encode_parked(parked: list[Parked]) -> bytes:
    return orjson.dumps([[p.at_ms, p.postback_id, p.message.decode()] for p in parked])
