"""Readiness markers: how `hopstream dev` learns that each process it started is ready.

A process creates `<data_dir>/run/<name>.ready` once it can do its job (the receiver is
listening with a connected producer, the worker has its partitions and tables, the sink is
assigned and ClickHouse is migrated). The supervisor removes the markers before starting
the processes and prints `hopstream ready` once all of them exist.
"""

from __future__ import annotations

from pathlib import Path

from hopstream.settings import Settings


def marker(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.ready"


def mark_ready(settings: Settings, name: str) -> None:
    path = marker(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def clear(settings: Settings, names: list[str]) -> None:
    for name in names:
        marker(settings, name).unlink(missing_ok=True)


def all_ready(settings: Settings, names: list[str]) -> bool:
    return all(marker(settings, name).exists() for name in names)
