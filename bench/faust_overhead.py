"""What Faust's per-event machinery costs, measured without hopstream's work.

`python -m bench.faust_overhead` starts an embedded broker, pre-produces N clicks and N
postbacks (the same messages as `bench.streams`), then runs a Faust app that does nothing
with each message, in its own process, once per variant and round (variants interleaved,
so other load on the shared machine weighs on all of them alike), and prints the median
events/s of each and its ratio to the plain agent:

- `agent`: an agent iterating `stream.events()` (what the worker did);
- `drain`: the same agent, with a consumer that checks flow suspension once per fetched
  batch instead of wrapping every message in `wait_first` (tasks per message);
- `drain+monitor`: that, and a Monitor whose per-message sensors do nothing;
- `batch`: each fetched batch handed to a function straight from the consumer (no Stream,
  Event or queue), the messages acknowledged through Faust's own bookkeeping
  (`streams.batch_consumer`, what the worker now uses).

Each process is timed from its first message to the 2N-th (start-up, assignment not
counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VARIANTS = ("agent", "drain", "drain+monitor", "batch")


class Clock:
    """Counts messages; prints the rate and exits the process at the expected count."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.started = 0.0

    def add(self, n: int) -> None:
        if not self.count:
            self.started = time.perf_counter()
        self.count += n
        if self.count >= self.expected:
            elapsed = time.perf_counter() - self.started
            # fd 1 itself: Faust's worker redirects sys.stdout to its log
            os.write(1, (json.dumps({"events_per_s": self.expected / elapsed}) + "\n").encode())
            os._exit(0)


def run_variant(variant: str, bootstrap: str, app_id: str, data_dir: str, n: int) -> None:
    """One do-nothing Faust app (child process)."""
    import faust
    from faust.sensors import Monitor
    from faust.transport.drivers import aiokafka as faust_aiokafka

    from schemas import topics
    from streams.batch_consumer import BatchApp

    clock = Clock(2 * n)

    class DrainConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
        """Faust's `_drain_messages` without `wait_first` per message: flow suspension
        is checked once per fetched batch."""

        async def _drain_messages(self, fetcher: Any) -> None:
            callback = self.callback
            while not (self._stopped.is_set() or fetcher._stopped.is_set()):
                await self.sleep(0)
                async for tp, message in self.getmany(timeout=1.0):
                    read = self._read_offset[tp]
                    if read is None or message.offset >= read:
                        await callback(message)
                        self._read_offset[tp] = message.offset
                if self.suspend_flow.is_set():
                    await self.can_resume_flow.wait()

    class DrainTransport(faust_aiokafka.Transport):  # type: ignore[misc]
        Consumer = DrainConsumer

    class DrainApp(faust.App):  # type: ignore[misc]
        def _new_transport(self) -> Any:
            return DrainTransport(self.conf.broker_consumer, self)

    class QuietMonitor(Monitor):  # type: ignore[misc]
        def on_message_in(self, *args: Any) -> None: ...
        def on_stream_event_in(self, *args: Any) -> None: ...
        def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None: ...
        def on_message_out(self, *args: Any) -> None: ...
        def track_tp_end_offset(self, *args: Any) -> None: ...

    options: dict[str, Any] = {}
    app_cls: Any = {"agent": faust.App, "batch": BatchApp}.get(variant, DrainApp)
    if variant == "drain+monitor":
        options["Monitor"] = QuietMonitor
    app = app_cls(app_id, broker=f"kafka://{bootstrap}", datadir=data_dir,
                  key_serializer="raw", value_serializer="raw", web_enabled=False,
                  consumer_auto_offset_reset="earliest", autodiscover=False,
                  processing_guarantee="at_least_once", **options)
    source = app.topic(topics.RAW_CLICKS.name, topics.RAW_POSTBACKS.name,
                       key_type=bytes, value_type=bytes)
    if variant == "batch":
        names = frozenset({topics.RAW_CLICKS.name, topics.RAW_POSTBACKS.name})

        class Count:
            topics = names

            async def handle(self, messages: Sequence[Any]) -> None:
                clock.add(len(messages))

            def check_delivered(self) -> None: ...

        app.route_batches(Count(), source)
    else:
        @app.agent(source)  # type: ignore[untyped-decorator]
        async def nothing(stream: Any) -> None:
            async for _event in stream.events():
                clock.add(1)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


def measure(variant: str, bootstrap: str, app_id: str, data_dir: Path, n: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.faust_overhead", "--child", variant,
         "--bootstrap", bootstrap, "--app-id", app_id, "--data-dir", str(data_dir),
         "-n", str(n)],
        capture_output=True, text=True, timeout=600, check=False)
    for line in proc.stdout.splitlines():
        if "{" in line:  # after the terminal escapes Faust writes
            rate: float = json.loads(line[line.index("{"):])["events_per_s"]
            return rate
    raise SystemExit(f"{variant} printed no result:\n{proc.stdout}\n{proc.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="clicks, and postbacks")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--app-id", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_variant(args.child, args.bootstrap, args.app_id, args.data_dir, args.n)
        return 0

    from bench.streams import messages, produce
    from hopstream.settings import Settings
    from schemas import topics
    from services.kafka.admin import ensure_topics
    from services.kafka.broker import EmbeddedBroker

    variants = args.variants.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-faust-") as tmp, EmbeddedBroker() as broker:
        settings = Settings.from_env({}, kafka_bootstrap_servers=broker.bootstrap_servers,
                                     data_dir=Path(tmp))
        asyncio.run(ensure_topics(settings))
        clicks, postbacks = messages(args.n)
        asyncio.run(produce(broker.bootstrap_servers, topics.RAW_CLICKS.name, clicks))
        asyncio.run(produce(broker.bootstrap_servers, topics.RAW_POSTBACKS.name, postbacks))
        rates: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(args.rounds):
            for i, variant in enumerate(variants):
                rate = measure(variant, broker.bootstrap_servers, f"overhead-{r}-{i}",
                               Path(tmp) / f"{r}-{i}", args.n)
                rates[variant].append(rate)
                print(f"round {r + 1} {variant}: {rate:,.0f} events/s", flush=True)
        first = statistics.median(rates[variants[0]])
        for variant in variants:
            median = statistics.median(rates[variant])
            print(f"median {variant}: {median:,.0f} events/s "
                  f"({median / 2:,.0f} postbacks/s), x{median / first:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
