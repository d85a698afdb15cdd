"""The least CPU a Python worker spends on a click + postback, without Faust or a broker.

`make bench-streams` compares the worker with a raw aiokafka loop that only reads; its
ratio goal (>= 0.25) leaves the worker ~4x what that loop spends per click + postback.
This measures what hopstream's handling costs at the least, in one tight loop over N
distinct pairs that convert (the path most postbacks take), so that the goal can be held
against it. Each step is the worker's own code or the library call it makes, as one pass
over the N pairs with nothing around each call:

  read     parse both records out of a Kafka record batch (aiokafka's C parser); not
           part of the handling: the raw loop does it too, and fetching is most of its time
  decode   the click and the postback into their contracts (`schemas.codec`), the stored
           click and the (empty) ledger
  state    the click stored compactly and read back, the ledger read (a miss) and written,
           the waiting-postbacks lookup (a miss): RocksDB writing without a write-ahead
           log, as the worker does (RocksDB's default options otherwise)
  decide   `streams.join.settle`: the outcome and the ledger entry
  encode   the click compactly (`streams.state`), the conversion, the ledger
  produce  the two changelog records and the conversion appended to producer batches,
           the conversion's partition from its key (murmur2)

No event loop, no consumer thread, no acknowledgements, no commits, no garbage collector,
which the worker all has on top. An estimate, not a bound: only the path that converts
(the streams benchmark also sends duplicates and refunds), RocksDB's default options but
for the write-ahead log, and N pairs that stay in its write buffer. Prints the median of
the rounds, per step and in all, in microseconds per click + postback; `make bench-streams`
holds the total against its baseline in the same run.

    python -m bench.floor [-n 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal

import rocksdict
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from bench.streams import OFFER, messages
from schemas.codec import decode, encode
from schemas.messages import Click, Conversion, Offer, Postback
from streams.join import settle
from streams.ledger import Ledger
from streams.produce import murmur2
from streams.rocksdb_options import _without_wal
from streams.state import decode_click, encode_click

STEPS = ("read", "decode", "state", "decide", "encode", "produce")


def record_batch(pairs: list[tuple[bytes, bytes]]) -> bytes:
    builder = new_builder()
    for offset, (key, value) in enumerate(pairs):
        builder.append(offset, timestamp=None, key=key, value=value, headers=[])
    return bytes(builder.build())


def sales(n: int) -> list[tuple[bytes, bytes]]:
    """A sale for each of the streams benchmark's N clicks: every postback converts, the
    path most of that benchmark's postbacks take."""
    now = datetime.now(UTC)
    return [(f"{i:032x}".encode(), encode(Postback(
        postback_id=f"p{i:031x}", received_at=now, click_id=f"{i:032x}", event="purchase",
        payout=Decimal("37.45"), receipt=f"R{i:07d}", currency="USD", method="GET",
        path="/api/v1/events"))) for i in range(n)]


def new_builder() -> DefaultRecordBatchBuilder:
    return DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                     producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                     batch_size=1 << 30)


def one_round(n: int, offer: Offer, directory: str) -> dict[str, float]:
    """Microseconds per click + postback of each step, each timed as one pass over the N
    pairs (no timer around each call), in the worker's order."""
    clicks, _ = messages(n)
    postbacks = sales(n)
    raw_batches = (record_batch(clicks), record_batch(postbacks))
    options = rocksdict.Options()
    store = {name: rocksdict.Rdict(f"{directory}/{name}", options)
             for name in ("clicks", "ledger", "pending")}
    for db in store.values():
        db.set_write_options(_without_wal())
    spent: dict[str, float] = dict.fromkeys(STEPS, 0.0)
    clock = time.perf_counter
    # The passes keep N decoded messages alive, which the worker never does: without this,
    # the cyclic collector's full passes over them would be timed as well.
    gc.disable()
    try:
        t = clock()
        read = [[(r.key, r.value) for r in DefaultRecordBatch(raw)] for raw in raw_batches]
        spent["read"] += clock() - t

        t = clock()
        decoded_clicks = [decode(Click, value) for _, value in read[0]]
        spent["decode"] += clock() - t
        t = clock()
        compact = [encode_click(click) for click in decoded_clicks]
        spent["encode"] += clock() - t
        t = clock()
        clicks_db, pending_db = store["clicks"], store["pending"]
        for (key, _), value in zip(read[0], compact, strict=True):
            clicks_db.put(key, value)
            pending_db.get(key)
        spent["state"] += clock() - t

        t = clock()
        decoded_postbacks = [decode(Postback, value) for _, value in read[1]]
        spent["decode"] += clock() - t
        t = clock()
        ledger_db = store["ledger"]
        found = [(clicks_db.get(key), ledger_db.get(key)) for key, _ in read[1]]
        spent["state"] += clock() - t
        t = clock()
        joined = [(decode_click(c or b""), Ledger.decode(led)) for c, led in found]
        spent["decode"] += clock() - t
        t = clock()
        outcomes = [settle(click, offer, postback, ledger, 0)
                    for (click, ledger), postback in zip(joined, decoded_postbacks, strict=True)]
        spent["decide"] += clock() - t
        # The path measured is the one that counts: each postback found its click and
        # became a conversion.
        if not all(isinstance(o, Conversion) for o in outcomes):
            raise RuntimeError("a postback did not convert: the floor measured another path")
        t = clock()
        encoded = [(encode(o), ledger.encode()) for o, (_, ledger) in zip(outcomes, joined,
                                                                           strict=True)]
        spent["encode"] += clock() - t
        t = clock()
        for (key, _), (_, ledger_value) in zip(read[1], encoded, strict=True):
            ledger_db.put(key, ledger_value)
        spent["state"] += clock() - t

        t = clock()
        changelog, outputs = new_builder(), new_builder()
        for offset, ((key, _), value) in enumerate(zip(read[0], compact, strict=True)):
            changelog.append(offset, None, key, value, [])
        for offset, ((key, _), (out, ledger_value)) in enumerate(zip(read[1], encoded,
                                                                     strict=True)):
            changelog.append(n + offset, None, key, ledger_value, [])
            murmur2(key)
            outputs.append(offset, None, key, out, [])
        spent["produce"] += clock() - t
    finally:
        gc.enable()
        for db in store.values():
            db.close()
    return {step: seconds / n * 1e6 for step, seconds in spent.items()}


def floor_us(n: int, rounds: int) -> dict[str, float]:
    """Median microseconds per click + postback of each step over `rounds` rounds."""
    offer = decode(Offer, OFFER)
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="hopstream-floor-") as directory:
            results.append(one_round(n, offer, directory))
    return {step: statistics.median(r[step] for r in results) for step in STEPS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=50_000, help="clicks + postbacks per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    steps = floor_us(args.n, args.rounds)
    for step, us in steps.items():
        print(f"{step:8} {us:6.1f} us")
    handling = sum(us for step, us in steps.items() if step != "read")
    print(f"handling {handling:6.1f} us per click + postback, besides reading it "
          f"(medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
