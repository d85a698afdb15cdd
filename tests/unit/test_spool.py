"""services.receiver.spool: durable appends, ordered reads, bound, torn-record recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.receiver.spool import Spool, SpoolFull


async def test_appends_are_read_back_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    await asyncio.gather(*(spool.append("t", f"k{i}".encode(), b'{"n":%d}' % i)
                           for i in range(50)))
    records = spool.read()
    assert [r.key for r in records] == [f"k{i}".encode() for i in range(50)]
    assert records[7].value == b'{"n":7}' and records[0].topic == "t"
    assert spool.pending_records == 50
    spool.close()


async def test_replayed_records_are_not_read_again_and_reset_empties(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    for i in range(3):
        await spool.append("t", b"k", b'"%d"' % i)
    first = spool.read()
    spool.mark_replayed(first[0])
    assert [r.value for r in spool.read()] == [b'"1"', b'"2"']
    assert not spool.reset_if_drained()
    for record in first[1:]:
        spool.mark_replayed(record)
    assert spool.read() == [] and spool.pending_records == 0
    assert spool.reset_if_drained()
    assert spool.size == 0 and spool.path.stat().st_size == 0
    await spool.append("t", b"k", b'"again"')
    assert [r.value for r in spool.read()] == [b'"again"']
    spool.close()


async def test_reads_are_bounded_but_never_stuck(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    big = b'"' + b"x" * 5000 + b'"'
    for _ in range(3):
        await spool.append("t", b"k", big)
    assert len(spool.read(limit_bytes=100)) == 1  # one record larger than the limit
    assert len(spool.read()) == 3
    spool.close()


async def test_full_spool_refuses(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 64 * 1024)
    with pytest.raises(SpoolFull):
        for _ in range(100):
            await spool.append("t", b"k", b'"' + b"x" * 1000 + b'"')
    assert 60 * 1024 < spool.size <= 64 * 1024
    assert not spool.has_room(2000)
    spool.close()


async def test_records_survive_a_restart_and_a_torn_tail_is_cut(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    await spool.append("t", b"a", b'"1"')
    await spool.append("t", b"b", b'"2"')
    spool.close()
    torn = b'{"t":"t","k":"c","v":"tor'  # a crash in the middle of a write
    spool.path.write_bytes(spool.path.read_bytes() + torn)
    reopened = Spool(tmp_path, 1 << 20)
    assert [r.key for r in reopened.read()] == [b"a", b"b"]
    assert reopened.pending_records == 2
    await reopened.append("t", b"d", b'"4"')
    assert [r.key for r in reopened.read()] == [b"a", b"b", b"d"]
    reopened.close()


async def test_flush_waits_for_pending_appends(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 1 << 20)
    task = asyncio.create_task(spool.append("t", b"k", b'"v"'))
    await asyncio.sleep(0)
    await spool.flush()
    assert task.done() and spool.path.stat().st_size > 0
    spool.close()
