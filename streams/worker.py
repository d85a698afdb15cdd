"""`hopstream worker`: run the Faust application until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from typing import Any

import faust

from hopstream.readiness import mark_ready
from hopstream.settings import Settings
from streams.app import create_app


class Worker(faust.Worker):  # type: ignore[misc]
    """Faust's worker, plus the readiness marker once tables are recovered."""

    def __init__(self, app: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.hopstream_settings = settings

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        mark_ready(self.hopstream_settings, "worker")


def run_worker(settings: Settings) -> None:
    app = create_app(settings)
    worker = Worker(app, settings, loglevel="WARNING", quiet=True)
    # Faust's own INFO output is a wall of tables; keep ours at the configured level.
    logging.getLogger("streams").setLevel(settings.log_level.upper())
    worker.execute_from_commandline()
