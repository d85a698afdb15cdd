"""`hopstream worker`: run the Faust application until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import ctypes
import logging
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hopstream.readiness import mark_ready
from hopstream.settings import Settings
from streams.agents import ticks_topic
from streams.app import create_app
from streams.offers_view import OffersView

OUR_LOGGERS = {"streams", "hopstream", "schemas", "services"}

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial value, kept


class Worker(faust.Worker):  # type: ignore[misc]
    """Faust's worker, plus the readiness marker once tables are recovered and the offers
    topic has been read."""

    def __init__(self, app: Any, settings: Settings, offers: OffersView, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.hopstream_settings = settings
        self.offers = offers

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # Faust's own INFO output is a wall of tables: only its warnings pass, while
        # hopstream's loggers keep the configured level.
        super().on_setup_root_logger(logger, level)
        logger.setLevel(logging.WARNING)
        for name in OUR_LOGGERS:
            logging.getLogger(name).setLevel(self.hopstream_settings.log_level.upper())
        for handler in logger.handlers:
            handler.setLevel(logging.NOTSET)

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        await self.offers.ready.wait()
        mark_ready(self.hopstream_settings, "worker")


async def ensure_ticks_topic(settings: Settings, app_id: str) -> None:
    name = ticks_topic(app_id)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            await admin.create_topics([NewTopic(name, settings.partitions,
                                                settings.replication_factor)])
        for _ in range(50):
            described = await admin.describe_topics([name])
            count = len(described[0].get("partitions") or [])
            if count:
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    if count != settings.partitions:
        raise RuntimeError(f"{name} has {count} partitions, expected {settings.partitions} "
                           "(HOPSTREAM_PARTITIONS): delete it, the worker recreates it")


def fix_mmap_threshold() -> None:
    """Large allocations (>= 128 KB) straight from the OS, and back to it when freed.

    glibc raises its mmap threshold each time such a block is freed (up to 32 MB), after
    which RocksDB's memtable blocks and aiokafka's fetch buffers come from the heap, whose
    freed space is kept and fragmented. Measured on the streams benchmark at 300,000
    clicks: 99 MB free but held by the allocator, peak RSS 243 MB; with the threshold
    fixed, 16 MB and 195 MB. Setting it disables the raising. Not glibc: nothing to do.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def run_worker(settings: Settings, app_id: str | None = None) -> None:
    app_id = app_id or settings.worker_app_id
    fix_mmap_threshold()
    asyncio.run(ensure_ticks_topic(settings, app_id))
    app, offers = create_app(settings, app_id)
    worker = Worker(app, settings, offers, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()
