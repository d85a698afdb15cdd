"""Running an aiohttp app until the process is told to stop (SIGINT or SIGTERM)."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


async def serve_until_signal(runner: web.AppRunner) -> None:
    """Wait for SIGINT/SIGTERM, then clean the app up: its cleanup_ctx flushes what it holds
    (the receiver's producer and spool), so stopping is never abrupt."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
