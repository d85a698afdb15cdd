"""Reading ClickHouse over its HTTP interface: one code path for the embedded engine and a server.

The dashboard never opens chdb itself (only one process may own a chdb data path: the
sink, which serves a read-only HTTP query interface for it). In embedded mode it queries
that interface; with CLICKHOUSE_URL=http(s)://user:password@host:port it queries the
server directly. Both speak ClickHouse's HTTP protocol: the query in the body, settings
and `param_NAME` bindings in the URL, `FORMAT JSON` for the answer.

Decimals come back as strings (`output_format_json_quote_decimals`), so money is parsed
into Decimal without passing through a float; 64-bit counts are quoted by ClickHouse's
JSON format by default and parsed as int.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from yarl import URL

from hopstream.settings import Settings

# Settings sent with every query. Readable on a read-only session: they are URL
# parameters, applied before the session becomes read-only.
QUERY_SETTINGS = {
    "output_format_json_quote_decimals": "1",
    "output_format_json_quote_64bit_integers": "1",
}


class ClickHouseError(RuntimeError):
    """ClickHouse refused a query or could not be reached; the message says which."""


def endpoint(settings: Settings) -> tuple[URL, aiohttp.BasicAuth | None]:
    """The HTTP endpoint to query, and its credentials (from CLICKHOUSE_URL)."""
    if settings.embedded_clickhouse:
        host = settings.clickhouse_host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return URL.build(scheme="http", host=host, port=settings.clickhouse_port), None
    url = URL(settings.clickhouse_dsn)
    auth = aiohttp.BasicAuth(url.user or "default", url.password or "") if url.user else None
    return url.with_user(None).with_password(None).with_path("/").with_query(None), auth


class ClickHouseReader:
    def __init__(self, session: aiohttp.ClientSession, url: URL,
                 auth: aiohttp.BasicAuth | None) -> None:
        self.session = session
        self.url = url
        self.auth = auth

    async def rows(self, sql: str, params: dict[str, str] | None = None
                   ) -> list[dict[str, Any]]:
        """The rows of `sql` (bound with `{name:Type}` placeholders) as dicts."""
        query = {**QUERY_SETTINGS, **{f"param_{k}": v for k, v in (params or {}).items()}}
        try:
            async with self.session.post(self.url, params=query, auth=self.auth,
                                         data=f"{sql}\nFORMAT JSON".encode()) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ClickHouseError(f"ClickHouse at {self.url} unreachable: "
                                  f"{exc or type(exc).__name__}") from None
        if response.status != 200:
            text = body.decode(errors="replace").strip()
            raise ClickHouseError(f"ClickHouse answered {response.status}: {text[:500]}")
        data: list[dict[str, Any]] = orjson.loads(body)["data"]
        return data
