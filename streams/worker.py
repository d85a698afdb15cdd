"""`hopstream worker`: run the Faust application until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
from typing import Any

import faust

from hopstream.readiness import mark_ready
from hopstream.settings import Settings
from streams.app import create_app
from streams.offers_view import OffersView

OUR_LOGGERS = {"streams", "hopstream", "schemas", "services"}


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
        for handler in logger.handlers:
            handler.setLevel(logging.NOTSET)
            handler.addFilter(_ours_or_warning)

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        await self.offers.ready.wait()
        mark_ready(self.hopstream_settings, "worker")


def _ours_or_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in OUR_LOGGERS


def run_worker(settings: Settings) -> None:
    app, offers = create_app(settings)
    worker = Worker(app, settings, offers, loglevel="WARNING", quiet=True)
    # Faust's own INFO output is a wall of tables; keep ours at the configured level.
    logging.getLogger("streams").setLevel(settings.log_level.upper())
    worker.execute_from_commandline()
