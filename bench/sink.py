"""Sink benchmark: rows/s from Kafka into ClickHouse for one sink process, and inserts/s
per table. `make bench-sink` (options: `python bench/sink.py --help`).

One embedded broker and a fresh chdb data directory, both temporary. The topics get a
backlog (90% clicks, 8% conversions, 2% postback issues), then each round:
  baseline: a bare aiokafka consumer reads the whole backlog (no decoding, no ClickHouse):
            the ceiling the sink is compared with;
  sink:     a sink in a fresh consumer group drains the backlog into a fresh database
            (the real code path: replay guard, insert, commit).
Then a paced phase: the last sink keeps running while traffic arrives at a fixed rate,
which shows the insert rate per table at steady state (batches closed by age).
Medians over the rounds; the machine is shared and noisy, so read the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import encode
from schemas.messages import Click, Conversion, PostbackIssue
from services.clickhouse.client import make_client
from services.clickhouse.migrate import migrate
from services.kafka.admin import ensure_topics
from services.kafka.broker import EmbeddedBroker
from services.sink.batch import Item
from services.sink.consumer import Sink
from services.sink.tables import TABLES
from services.sink.writer import Writer


class CountingWriter(Writer):
    """The real writer, counting inserts and rows per table."""

    def __init__(self, client: Any, database: str) -> None:
        super().__init__(client, database)
        self.inserts: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.insert_seconds = 0.0

    def _load(self, table: str, items: list[Item], check: bool) -> None:
        began = time.perf_counter()
        super()._load(table, items, check)
        self.insert_seconds += time.perf_counter() - began
        self.inserts[table] += 1
        self.rows[table] += len(items)


def message(n: int) -> tuple[topics.Topic, str, Any]:
    now = datetime.now(UTC)
    kind = n % 50
    if kind < 4:
        v = Conversion(postback_id=new_id(), click_id=new_id(), offer_id=f"offer{n % 7}",
                       event="purchase", receipt="P3RGBKGB", payout=Decimal("37.45"),
                       currency="USD", converted_at=now, clicked_at=now, traffic_source="fb")
        return topics.CONVERSIONS, v.click_id, v
    if kind == 4:
        i = PostbackIssue(postback_id=new_id(), reason="invalid", detail="payout: not a decimal",
                          received_at=now, raw='{"payout": "x"}')
        return topics.POSTBACK_ISSUES, i.postback_id, i
    c = Click(click_id=new_id(), offer_id=f"offer{n % 7}", clicked_at=now,
              traffic_source="fb", campaign=f"camp{n % 13}", creative="banner-7",
              ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64)",
              params={"traffic_source": "fb"}, query_string="traffic_source=fb")
    return topics.RAW_CLICKS, c.click_id, c


async def produce(settings: Settings, start: int, count: int, rate: float | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                linger_ms=20, max_batch_size=1024 * 1024)
    await producer.start()
    try:
        began, pending = time.monotonic(), []
        for n in range(start, start + count):
            topic, key, value = message(n)
            pending.append(await producer.send(topic.name, encode(value), key=key.encode()))
            if rate is not None and n % 1000 == 0:
                await asyncio.sleep(max(0.0, began + (n - start) / rate - time.monotonic()))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def baseline(settings: Settings, total: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers,
                                group_id=f"bench-base-{new_id()}", auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        consumer.subscribe(list(TABLES))
        seen, began = 0, None
        while seen < total:
            for batch in (await consumer.getmany(timeout_ms=200, max_records=50_000)).values():
                began = began or time.monotonic()
                seen += len(batch)
        return total / (time.monotonic() - (began or time.monotonic()))
    finally:
        await consumer.stop()


async def drain(settings: Settings, client: Any, database: str, total: int
                ) -> tuple[float, CountingWriter, Sink, asyncio.Task[None]]:
    migrate(client, database)
    writer = CountingWriter(client, database)
    sink = Sink(settings.replace(clickhouse_database=database), writer,
                group_id=f"bench-sink-{new_id()}")
    assigned = asyncio.Event()
    task = asyncio.create_task(sink.run(on_ready=assigned.set))
    await assigned.wait()  # the clock starts once the group has assigned the partitions
    began = time.monotonic()
    # The writer's thread updates the counters: poll them.
    while sum(writer.rows.values()) < total:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return total / (time.monotonic() - began), writer, sink, task


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "b.log") as b:
        settings = Settings.from_env({"HOPSTREAM_DATA_DIR": tmp, "HOPSTREAM_LOG_LEVEL": "WARNING"},
                                     kafka_bootstrap_servers=b.bootstrap_servers,
                                     rebalance_timeout_s=1.0, session_timeout_s=6.0)
        await ensure_topics(settings)
        client = make_client(settings)
        print(f"backlog: producing {args.rows:,} messages ...", flush=True)
        await produce(settings, 0, args.rows)
        base_rates, sink_rates, last = [], [], None
        for r in range(args.rounds):
            base_rates.append(await baseline(settings, args.rows))
            rate, writer, sink, task = await drain(settings, client, f"bench_{r}", args.rows)
            sink_rates.append(rate)
            print(f"round {r + 1}: baseline {base_rates[-1]:,.0f} msg/s, sink {rate:,.0f} rows/s,"
                  f" inserts {dict(writer.inserts)} (busiest table"
                  f" {max(writer.inserts.values()) * rate / args.rows:.1f}/s),"
                  f" {writer.insert_seconds:.1f}s inserting", flush=True)
            if last is not None:
                last[1].stop()
                await last[2]
            last = (writer, sink, task)
        base, sink_rate = statistics.median(base_rates), statistics.median(sink_rates)
        print(f"\nbacklog drain, one sink process, median of {args.rounds}:")
        print(f"  baseline (consume only)   {base:>10,.0f} msg/s")
        print(f"  sink (Kafka->ClickHouse)  {sink_rate:>10,.0f} rows/s   "
              f"ratio {sink_rate / base:.2f}   goal >= 100,000 rows/s: "
              f"{'met' if sink_rate >= 100_000 else 'NOT met'}")
        assert last is not None
        writer, sink, task = last
        before, began = Counter(writer.inserts), time.monotonic()
        await produce(settings, args.rows, int(args.paced_rate * args.paced_seconds),
                      rate=args.paced_rate)
        await asyncio.sleep(1.5)  # let the last batch reach its age limit
        elapsed = time.monotonic() - began
        per_s = {t: (writer.inserts[t] - before[t]) / elapsed for t in writer.inserts}
        print(f"\npaced phase: {sum(writer.rows.values()) - args.rows:,} rows written")
        print(f"\nsteady state at {args.paced_rate:,.0f} rows/s for {elapsed:.1f}s "
              f"(batch limits {settings.sink_batch_rows:,} rows / {settings.sink_batch_seconds}s):")
        for table, rate in sorted(per_s.items()):
            print(f"  {table:<16} {rate:.2f} inserts/s   goal <= 1: "
                  f"{'met' if rate <= 1.05 else 'NOT met'}")
        sink.stop()
        await task
        client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300_000, help="backlog size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-rate", type=float, default=20_000.0)
    parser.add_argument("--paced-seconds", type=float, default=5.0)
    asyncio.run(main(parser.parse_args()))
