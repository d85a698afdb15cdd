"""streams.tableio: a record the broker did not take stops the worker before it commits."""

from __future__ import annotations

import asyncio

import pytest

from streams import tableio


class Exited(Exception):
    pass


def _exit(code: int) -> None:
    raise Exited(code)


async def test_a_record_the_broker_refused_stops_the_process_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("streams.tableio.os._exit", _exit)
    refused: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    refused.set_exception(RuntimeError("NotEnoughReplicas"))
    with pytest.raises(Exited) as exited:
        tableio._check_delivered(refused)
    assert exited.value.args == (tableio.EXIT_RECORD_LOST,)


async def test_acknowledged_and_cancelled_records_do_not() -> None:
    loop = asyncio.get_running_loop()
    taken: asyncio.Future[object] = loop.create_future()
    taken.set_result(object())
    assert tableio._check_delivered(taken) is True
    cancelled: asyncio.Future[object] = loop.create_future()
    cancelled.cancel()
    assert tableio._check_delivered(cancelled) is False
