"""streams.rocksdb_options: every table store of the worker shares one RocksDB budget."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hopstream.settings import Settings
from streams import rocksdb_options
from streams.app import create_app
from streams.tableio import TableIO


def _open(path: Path) -> Any:
    return rocksdb_options.SharedBudgetOptions(**rocksdb_options.OPTIONS).open(path)


def test_the_worker_tables_use_the_shared_budget_store(tmp_path: Path) -> None:
    app, _ = create_app(Settings.from_env({}, data_dir=tmp_path))
    assert {name: type(table.data) for name, table in app.tables.items()} == {
        "clicks": rocksdb_options.Store, "pending_postbacks": rocksdb_options.Store,
        "ledger": rocksdb_options.Store}
    # Same files as Faust's own RocksDB store: existing data dirs stay valid.
    assert app.tables["clicks"].data.partition_path(3).name == "clicks-3.db"


def test_stores_share_one_block_cache_and_one_write_buffer_budget(tmp_path: Path) -> None:
    cache, buffers = rocksdb_options.shared()
    first, second = _open(tmp_path / "a"), _open(tmp_path / "b")
    try:
        for db in (first, second):
            assert db.property_int_value("rocksdb.block-cache-capacity") == \
                rocksdb_options.BLOCK_CACHE_BYTES
        before = buffers.get_usage()
        for i in range(20_000):
            first.put(b"%032x" % i, b"x" * 100)
            second.put(b"%032x" % i, b"y" * 100)
        # Both stores' memtables are counted in the one budget, which the cache carries.
        memtables = sum(db.property_int_value("rocksdb.cur-size-all-mem-tables")
                        for db in (first, second))
        assert buffers.get_usage() - before >= memtables // 2 > 0
        assert cache.get_usage() >= buffers.get_usage()
    finally:
        first.close()
        second.close()


def _run(code: str, path: Path) -> None:
    subprocess.run([sys.executable, "-c", "import os, sys; from pathlib import Path\n"
                    "from streams.rocksdb_options import OPTIONS, SharedBudgetOptions\n"
                    "db = SharedBudgetOptions(**OPTIONS).open(Path(sys.argv[1]))\n" + code,
                    str(path)], check=True, timeout=60)


def test_a_crash_leaves_a_prefix_of_the_writes(tmp_path: Path) -> None:
    """No write-ahead log: a process that dies without closing the store keeps what its
    memtables had flushed, in write order, so the changelog offset Faust persists after
    the values it covers never runs ahead of them."""
    n = 40_000  # ~40 MB: memtables of 4 MB are flushed along the way
    _run(f"for i in range({n}): db.put(b'%032x' % i, b'%01000d' % i)\nos._exit(0)\n",
         tmp_path / "c")
    db = _open(tmp_path / "c")
    try:
        present = [db.get(b"%032x" % i) is not None for i in range(n)]
    finally:
        db.close()
    kept = present.index(False) if False in present else n
    assert 0 < kept < n, "all or nothing kept: a write-ahead log, or no flush"
    assert not any(present[kept:]), "a later write survived an earlier one"


def test_a_clean_close_keeps_every_write(tmp_path: Path) -> None:
    _run("for i in range(1000): db.put(b'%032x' % i, b'%d' % i)\ndb.close()\n",
         tmp_path / "c")
    db = _open(tmp_path / "c")
    try:
        assert [db.get(b"%032x" % i) for i in (0, 999)] == [b"0", b"999"]
    finally:
        db.close()


def test_flush_stores_writes_every_open_store_to_disk(tmp_path: Path) -> None:
    dbs = {p: _open(tmp_path / f"s{p}") for p in range(3)}
    try:
        for db in dbs.values():
            db.put(b"k", b"v")
        io = TableIO(SimpleNamespace(), flush_every_s=300.0)
        io.stores = {"t-changelog": SimpleNamespace(_dbs=dbs)}
        io.flush_stores()

        def memtables() -> int:
            return sum(db.property_int_value("rocksdb.num-entries-active-mem-table")
                       + db.property_int_value("rocksdb.num-entries-imm-mem-tables")
                       for db in dbs.values())

        deadline = time.monotonic() + 30
        while memtables() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert memtables() == 0
        assert all(db.property_int_value("rocksdb.num-files-at-level0") == 1
                   for db in dbs.values())
    finally:
        for db in dbs.values():
            db.close()


def test_a_store_dropped_without_close_keeps_its_writes(tmp_path: Path) -> None:
    """Faust never closes a revoked partition's store: it drops the handle and collects
    it (`Store.revoke_partitions`), and may open it again if the partition comes back.
    Without a write-ahead log, only closing on drop writes the memtables to disk."""
    db = _open(tmp_path / "c")
    db.put(b"k", b"v")
    del db
    gc.collect()
    again = _open(tmp_path / "c")
    try:
        assert again.get(b"k") == b"v"
    finally:
        again.close()
