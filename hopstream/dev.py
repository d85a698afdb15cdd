"""`hopstream dev`: the whole pipeline on one machine, as separate processes.

Starts the embedded broker (unless KAFKA_BOOTSTRAP_SERVERS names a cluster), creates the
topics, then runs `hopstream receiver`, `worker`, `dashboard` and `sink` as child
processes, each line of their output prefixed with the process's name. Prints
`hopstream ready` (with the dashboard's URL) once every child has written its readiness
marker, i.e. once a postback sent now would flow all the way to ClickHouse and show on
the dashboard; with `--simulate` it then also runs `hopstream simulate`. SIGINT/SIGTERM
stop the children in data-flow order (receiver first, so nothing new comes in; sink last,
so it writes what is left), then the broker. Children die with the supervisor even if it
is killed outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, field

from hopstream import readiness
from hopstream.offers import load_offers
from hopstream.settings import Settings
from services.kafka.admin import ensure_topics
from services.kafka.broker import broker_command, wait_for_port
from streams.offers_apply import apply_offers

COMPONENTS = ["receiver", "worker", "dashboard", "sink"]
STOP_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 180.0
PR_SET_PDEATHSIG = 1
ANSI_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
PREFIX = f"{'dev':<8}| "


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the supervisor dies, so does the child.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    pump: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # Own session: a terminal's Ctrl-C reaches only the supervisor, which then
            # stops the children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        prefix = f"{self.name:<8}| ".encode()
        while line := await self.proc.stdout.readline():
            # Terminal control sequences (Faust hides and shows the cursor) would garble
            # the interleaved output; lines that were nothing else are dropped.
            text = ANSI_ESCAPE.sub(b"", line).rstrip()
            if text:
                sys.stdout.buffer.write(prefix + text + b"\n")
                sys.stdout.flush()

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            say(f"{self.name} did not stop within {STOP_TIMEOUT_S:.0f}s; killing it")
            self.proc.kill()
            await self.proc.wait()
        if self.pump is not None:
            await self.pump


def say(message: str) -> None:
    sys.stdout.write(f"{PREFIX}{message}\n")
    sys.stdout.flush()


async def run_dev(settings: Settings, simulate: bool = False) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    env = {**os.environ, **settings.to_env(),
           "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers, "PYTHONUNBUFFERED": "1"}
    children: list[Child] = []
    extras: list[Child] = []  # the simulation, if any: stopped first
    broker: Child | None = None
    try:
        if settings.embedded_kafka:
            # A new embedded broker starts empty: local state that points at the old one's
            # offsets (the worker's tables) must start empty too.
            shutil.rmtree(settings.worker_dir, ignore_errors=True)
            broker = Child("broker", broker_command(settings.kafka_port),
                           {"RUST_LOG": "warn", **env})
            await broker.start()
            await asyncio.to_thread(wait_for_port, "127.0.0.1", settings.kafka_port, 20.0)
            say(f"embedded Kafka broker on {settings.bootstrap_servers}")
        await ensure_topics(settings)
        # The workers price postbacks with the offers on the topic, not the file.
        applied = await apply_offers(settings, load_offers(settings.offers_file))
        say(f"offers published: {', '.join(applied.written + applied.unchanged)}")
        readiness.clear(settings, COMPONENTS)
        for name in COMPONENTS:
            child = Child(name, [sys.executable, "-m", "hopstream", name], env)
            await child.start()
            children.append(child)
        if not await _wait_ready(settings, children, stop):
            return 0 if stop.is_set() else 1
        say(
            f"hopstream ready: dashboard http://{settings.dashboard_host}:"
            f"{settings.dashboard_port}/  receiver {settings.receiver_url}"
            f"  kafka {settings.bootstrap_servers}"
            + (f"  clickhouse http://{settings.clickhouse_host}:{settings.clickhouse_port}"
               if settings.embedded_clickhouse else "")
        )
        if simulate:
            # Not supervised like the others: the simulation ends on its own, and the
            # pipeline keeps running for the dashboard until Ctrl-C.
            simulator = Child("simulate", [sys.executable, "-m", "hopstream", "simulate"], env)
            await simulator.start()
            extras.append(simulator)
        failed = await _supervise(children, stop)
        return 1 if failed else 0
    finally:
        say("stopping")
        for child in extras + children:
            await child.stop()
        if broker is not None:
            await broker.stop()
        say("stopped")


async def _wait_ready(settings: Settings, children: list[Child], stop: asyncio.Event) -> bool:
    deadline = loop_time() + READY_TIMEOUT_S
    while not readiness.all_ready(settings, COMPONENTS):
        if stop.is_set():
            return False
        for child in children:
            if child.exited:
                say(f"{child.name} exited with status {child.proc and child.proc.returncode} "
                    "before it was ready")
                return False
        if loop_time() > deadline:
            missing = [n for n in COMPONENTS if not readiness.marker(settings, n).exists()]
            say(f"not ready after {READY_TIMEOUT_S:.0f}s: {', '.join(missing)}")
            return False
        await asyncio.sleep(0.1)
    return True


async def _supervise(children: list[Child], stop: asyncio.Event) -> bool:
    """Wait for a stop signal or for a child to die; True if a child died."""
    while not stop.is_set():
        for child in children:
            if child.exited:
                say(f"{child.name} exited with status {child.proc and child.proc.returncode}")
                return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    return False


def loop_time() -> float:
    return asyncio.get_running_loop().time()
