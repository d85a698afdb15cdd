"""A damaged spool journal never costs an acknowledged record, and never hangs the replayer."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import orjson
import pytest

from services.receiver import spool as spool_module
from services.receiver.spool import Spool


def record(n: int) -> bytes:
    return orjson.dumps({"t": "hopstream.postbacks.raw", "k": f"k{n}", "v": f'{{"n":{n}}}'}) + b"\n"


def test_a_damaged_line_between_records_is_set_aside_and_later_records_kept(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "receiver.journal"
    # k1 acknowledged; a failed write left half a record; k3 acknowledged after it.
    journal.write_bytes(record(1) + record(2)[:10] + record(3))
    spool = Spool(tmp_path, max_bytes=1 << 20)
    try:
        assert [r.key for r in spool.read()] == [b"k1", b"k3"]
        assert spool.pending_records == 2
        assert (tmp_path / "receiver.journal.corrupt").read_bytes() == record(2)[:10]
        assert journal.read_bytes() == record(1) + record(3)
    finally:
        spool.close()


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    (tmp_path / "receiver.journal").write_bytes(record(1) + record(2)[:7])
    spool = Spool(tmp_path, max_bytes=1 << 20)
    try:
        assert [r.key for r in spool.read()] == [b"k1"]
        assert spool.size == len(record(1))
    finally:
        spool.close()


async def test_a_failed_write_is_cut_back_so_later_records_stay_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    try:
        await spool.append("hopstream.postbacks.raw", b"k1", b"{}")
        real = spool_module._write_and_sync

        def short_write_then_disk_full(fd: int, data: bytes) -> None:
            os.write(fd, data[:5])
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(spool_module, "_write_and_sync", short_write_then_disk_full)
        with pytest.raises(OSError):
            await spool.append("hopstream.postbacks.raw", b"k2", b"{}")  # never acknowledged
        monkeypatch.setattr(spool_module, "_write_and_sync", real)
        await spool.append("hopstream.postbacks.raw", b"k3", b"{}")
        assert [r.key for r in spool.read()] == [b"k1", b"k3"]
        assert spool.pending_records == 2
    finally:
        spool.close()
