"""RocksDB for the worker's tables: one memory budget for all their stores.

Faust opens one RocksDB per table and partition (3 tables x 8 partitions = 24 stores by
default) and gives each its own block cache and memtables, so RocksDB's memory was a
per-store budget times the number of stores: 24 x (8 MB cache + 2 x 4 MB memtables),
~384 MB, reached as the state grew past the memtables into SST files (README,
Performance: the block caches alone held 44 MB at 270,000 clicks and kept filling).

Here every store of the process shares:
- one block cache (`BLOCK_CACHE_BYTES`, LRU) that also holds the index and filter blocks,
  which otherwise live outside any cache and grow with the data;
- one write buffer budget (`WRITE_BUFFER_BYTES`) charged to that cache, so the cache's
  capacity bounds data blocks, index and filter blocks and memtables together; once the
  memtables together pass the budget, RocksDB flushes the one being written to (never a
  stall: the event loop writes synchronously).

Only memory changes: when memtables are flushed to SST files and which blocks stay
cached, not what is written.

No write-ahead log (`open`): the table's changelog is what makes a write durable
(`streams.tableio`), as in Kafka Streams, and the log cost ~2-3 us per write (a write
system call each; ~10% of the worker's time on `make bench-streams`). After a crash the
store holds what its memtables had flushed: a prefix of its writes, the changelog offset
Faust persists in the same store included (it is written after the values it covers).
Faust then replays the changelog from that offset, which restores everything newer,
as it does for a store opened on an empty data dir. A clean stop flushes the memtables
(RocksDB does so at close when the log is off).

Lookups are by key: recent keys are in the memtables, older ones cost a bloom filter
check and at most a block read from the page cache, so a small shared cache costs little
(measured on `make bench-streams`, README).

Faust builds a store from its URL's scheme (`faust.stores.by_url`): the app's store is
`STORE_URL` (`streams.app`), which `Store` (Faust's RocksDB store with these options) is
registered for.
"""

from __future__ import annotations

import functools
from typing import Any

import rocksdict
from faust import stores
from faust.stores import rocksdb as faust_rocksdb

BLOCK_CACHE_BYTES = 64 << 20
WRITE_BUFFER_BYTES = 32 << 20
# Per store: a memtable is flushed at 4 MB even when the shared budget has room.
OPTIONS = {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2}

BLOOM_BITS_PER_KEY = 10

STORE_URL = "hopstream-rocksdb://"


@functools.cache
def shared() -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """The process's one block cache and write buffer budget, made on first use."""
    cache = rocksdict.Cache(BLOCK_CACHE_BYTES)
    buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        WRITE_BUFFER_BYTES, False, cache)
    return cache, buffers


class SharedBudgetOptions(faust_rocksdb.RocksDBOptions):  # type: ignore[misc]
    """Faust's options for one store, with the shared cache and write buffer budget."""

    def as_options(self) -> rocksdict.Options:
        options: rocksdict.Options = super().as_options()
        cache, buffers = shared()
        table = rocksdict.BlockBasedOptions()
        # A full filter of 10 bits per key (~1% false positives): Faust's default is a
        # block-based filter of 3 bits (~20%), and most lookups miss (a click's first
        # postback finds no ledger, every click looks for waiting postbacks).
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, False)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        table.set_block_cache(cache)
        table.set_cache_index_and_filter_blocks(True)
        # Those of the newest files are read on almost every lookup: never evicted.
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        options.set_block_based_table_factory(table)
        options.set_write_buffer_manager(buffers)
        return options

    def open(self, path: Any, *, read_only: bool = False) -> Any:
        db = super().open(path, read_only=read_only)
        db.set_write_options(_without_wal())
        return db


def _without_wal() -> rocksdict.WriteOptions:
    options = rocksdict.WriteOptions()
    options.disable_wal = True  # type: ignore[assignment,method-assign]  # stub: a method
    return options


class Store(faust_rocksdb.Store):  # type: ignore[misc]
    """Faust's RocksDB store (rocksdict driver), opened with `SharedBudgetOptions`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.use_rocksdict:
            raise RuntimeError(f"{STORE_URL} needs rocksdict")
        self.rocksdb_options = SharedBudgetOptions(**self.options, use_rocksdict=True)


stores.STORES.aliases.setdefault(STORE_URL.split(":", 1)[0], f"{__name__}:Store")
