"""ClickHouse clients, from the one CLICKHOUSE_URL setting.

`chdb:///path` is the ClickHouse engine in-process (embedded mode); `http(s)://...` is a
ClickHouse server. Both are clickhouse-connect clients with the same interface, so the
sink, migrations and queries run the same code in tests and in production. chdb allows one
data path per process: the process that owns it (the sink, in `hopstream dev`) is also the
one that serves reads for everyone else (see `services.clickhouse.query_api`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clickhouse_connect

from hopstream.settings import Settings


def make_client(settings: Settings, database: str | None = None, **kwargs: Any) -> Any:
    """A synchronous clickhouse-connect client (the async client refuses chdb)."""
    dsn = settings.clickhouse_dsn
    if dsn.startswith("chdb://"):
        path = dsn[len("chdb://"):]
        # The engine creates its data directory, but not the parents of it.
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return clickhouse_connect.get_client(dsn=dsn, database=database, **kwargs)
