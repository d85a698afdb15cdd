"""Log format shared by every hopstream process: one line per record, to stderr."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str, prefix: str = "") -> None:
    logging.basicConfig(level=level.upper(), format=prefix + FORMAT)
    # aiokafka logs every rebalance step at INFO; our own loggers say what matters.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, logging.getLevelName(
        level.upper())))
