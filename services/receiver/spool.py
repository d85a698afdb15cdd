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
        self._size, self.records = _recover(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
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

    @property
    def appending(self) -> bool:
        """An append is queued or being written."""
        return bool(self._pending) or (self._writer is not None and not self._writer.done())

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
                # Part of the batch may be on disk (a short write, then ENOSPC; or a failed
                # fsync). None of it was acknowledged, so cut the file back to the last
                # acknowledged record: later records must start at a known offset.
                _cut_back(self._fd, self._size, self.path)
                for _, done in batch:
                    if not done.done():
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


def _cut_back(fd: int, size: int, path: Path) -> None:
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        # The next start cuts a torn record off (`_recover`); until then `read` stops at it.
        log.exception("spool %s: could not cut a failed write back to %d bytes", path, size)


def _write_and_sync(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _recover(path: Path) -> tuple[int, int]:
    """(valid size, record count) of an existing journal.

    A torn last line (a crash mid-append, never acknowledged) is cut off. A bad line with
    good records after it (a failed write that could not be cut back) must not cost those
    acknowledged records: the bad lines are set aside in `<journal>.corrupt` and the
    journal is rewritten with the good ones, in order.
    """
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return 0, 0
    good: list[bytes] = []
    bad: list[bytes] = []
    for line in content.splitlines(keepends=True):
        if _complete(line):
            good.append(line)
            continue
        # Half a record with no newline runs into the next, whole record: keep that one.
        start = line.rfind(b'{"t":')
        if start > 0 and _complete(line[start:]):
            bad.append(line[:start])
            good.append(line[start:])
        else:
            bad.append(line)
    if bad:
        log.warning("spool %s: setting aside %d damaged bytes in %s.corrupt",
                    path, sum(map(len, bad)), path.name)
        with open(path.with_name(path.name + ".corrupt"), "ab") as aside:
            aside.write(b"".join(bad))
            aside.flush()
            os.fsync(aside.fileno())
        # Replaced atomically: a crash while repairing leaves the old journal, never less.
        repaired = path.with_name(path.name + ".repair")
        fd = os.open(repaired, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_and_sync(fd, b"".join(good))
        finally:
            os.close(fd)
        os.replace(repaired, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    if good:
        log.warning("spool %s holds %d records from an earlier run: replaying them",
                    path, len(good))
    return sum(map(len, good)), len(good)


def _complete(line: bytes) -> bool:
    try:
        return line.endswith(b"\n") and isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False
