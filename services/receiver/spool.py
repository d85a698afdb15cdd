"""The spool: a local, fsync'd, bounded journal of messages the broker could not take.

When the broker is unreachable the receiver still answers ClickBank: it appends the
message here, and a 200 goes out only once the record is on disk (fsync'd). The replayer
(`replay.py`) sends the records back to Kafka in journal order once the broker returns,
then empties the file.

Format: one JSON object per line, `{"t": topic, "k": key, "v": value}` (value is the
message's JSON text). A crash can leave a torn last line; opening the journal cuts it off,
since the request it belonged to was never answered with a 200.

Appends are group-committed: concurrent requests share one write and one fsync, which
runs in a thread so the event loop keeps serving while the disk works.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger(__name__)


class SpoolFull(Exception):
    """The journal reached its bound: the request must be refused (503) and retried."""


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    end: int  # journal offset just past this record
    topic: str
    key: bytes
    value: bytes


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "receiver.journal"
        self.max_bytes = max_bytes
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._size, self.records = _recover(self._fd, self.path)
        self.replayed = 0  # offset up to which records are known to be on the broker
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._pending_bytes = 0
        self._writer: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        """Bytes on disk, replayed or not."""
        return self._size

    @property
    def pending_records(self) -> int:
        """Records on disk (or being written) that are not yet on the broker."""
        return self.records + len(self._pending)

    def has_room(self, nbytes: int = 1) -> bool:
        return self._size + self._pending_bytes + nbytes <= self.max_bytes

    async def append(self, topic: str, key: bytes, value: bytes) -> None:
        """Returns once the record is durable; raises SpoolFull when it does not fit."""
        line = orjson.dumps({"t": topic, "k": key.decode(), "v": value.decode()}) + b"\n"
        if not self.has_room(len(line)):
            raise SpoolFull(f"spool holds {self._size} of {self.max_bytes} bytes")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((line, done))
        self._pending_bytes += len(line)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            data = b"".join(line for line, _ in batch)
            try:
                await asyncio.to_thread(_write_and_sync, self._fd, data)
            except OSError as exc:
                for _, done in batch:
                    done.set_exception(exc)
                self._pending_bytes -= len(data)
                continue
            self._size += len(data)
            self._pending_bytes -= len(data)
            self.records += len(batch)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def flush(self) -> None:
        """Wait until every append started so far is on disk."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def read(self, limit_bytes: int = 1 << 20) -> list[SpooledRecord]:
        """Records after `replayed`, in order, up to about `limit_bytes` (at least one)."""
        while True:
            end = min(self._size, self.replayed + limit_bytes)
            data = os.pread(self._fd, end - self.replayed, self.replayed)
            if end == self._size or b"\n" in data:
                break
            limit_bytes *= 2  # one record larger than the limit
        out: list[SpooledRecord] = []
        offset = self.replayed
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # cut by limit_bytes: the next read starts here
            offset += len(line)
            item = orjson.loads(line)
            out.append(SpooledRecord(offset, item["t"], item["k"].encode(), item["v"].encode()))
        return out

    def mark_replayed(self, record: SpooledRecord) -> None:
        if record.end > self.replayed:
            self.records -= 1
            self.replayed = record.end

    def reset_if_drained(self) -> bool:
        """Empty the file once everything in it is on the broker; True if it is empty now.

        Only while no append is pending: an append racing the reset would otherwise be
        written past the new end and counted, or truncated away.
        """
        if self._pending or self.replayed < self._size:
            return False
        if self._size:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            self._size = self.replayed = self.records = 0
        return True

    def close(self) -> None:
        os.close(self._fd)


def _write_and_sync(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _recover(fd: int, path: Path) -> tuple[int, int]:
    """(valid size, record count) of an existing journal, cutting off a torn last line."""
    size = os.fstat(fd).st_size
    if not size:
        return 0, 0
    data = os.pread(fd, size, 0)
    good, count = 0, 0
    for line in data.splitlines(keepends=True):
        try:
            complete = line.endswith(b"\n") and isinstance(orjson.loads(line), dict)
        except orjson.JSONDecodeError:
            complete = False
        if not complete:
            break
        good += len(line)
        count += 1
    if good < size:
        log.warning("spool %s: cutting %d bytes of a torn record at offset %d",
                    path, size - good, good)
        os.ftruncate(fd, good)
        os.fsync(fd)
    if count:
        log.warning("spool %s holds %d records from an earlier run: replaying them", path, count)
    return good, count
