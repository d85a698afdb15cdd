"""The aiohttp application of the read-only query interface: routes and lifetime.

See the package docstring for what it serves and how it stays read-only.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from services.clickhouse.query_api.engine import ReadOnlyEngine
from services.clickhouse.query_api.errors import (
    BAD_ARGUMENTS,
    QUERY_IS_TOO_LARGE,
    STD_EXCEPTION,
    ClickHouseError,
    code_in,
    error_response,
)
from services.clickhouse.query_api.request import parse_request

log = logging.getLogger(__name__)


#: The caller's clickhouse-connect client (chdb). The app only reads its engine path; its
#: queries run on sessions of their own, so the caller's client is never made read-only.
CLIENT_KEY: Final[web.AppKey[Any]] = web.AppKey("hopstream.query_api.client")

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_MAX_RESULT_BYTES: Final = 256 * 1024 * 1024
DEFAULT_MAX_MEMORY_USAGE: Final = 2 * 1024 * 1024 * 1024

@dataclass
class _QueryAPI:
    engine: ReadOnlyEngine
    limits: dict[str, str]
    max_body_bytes: int
    lock: asyncio.Lock
    executor: ThreadPoolExecutor | None = None


_STATE_KEY: Final = web.AppKey("hopstream.query_api.state", _QueryAPI)


def create_query_app(
    client: Any,
    *,
    max_result_rows: int = 1_000_000,
    max_execution_time_s: float = 30.0,
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    max_memory_usage_bytes: int = DEFAULT_MAX_MEMORY_USAGE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> web.Application:
    """The read-only ClickHouse HTTP interface over the chdb engine `client` is open on.

    `client` is an open clickhouse-connect chdb client (`make_client(settings)` in embedded
    mode). The app runs queries on sessions of its own on the same engine path, never on
    `client`, which stays usable for writes. The limits cap what a request may ask for;
    keep `max_result_rows` above a few thousand if clickhouse-connect's HTTP client is to
    connect: its handshake reads all of `system.settings` (about 1,900 rows in chdb 4.4).
    """
    dsn = getattr(client, "uri", None)
    if not isinstance(dsn, str) or not dsn.startswith("chdb://"):
        raise ValueError(
            "create_query_app serves the embedded chdb engine; a ClickHouse server already "
            f"has an HTTP interface (got a client for {dsn!r})"
        )
    for name, value in (
        ("max_result_rows", max_result_rows),
        ("max_execution_time_s", max_execution_time_s),
        ("max_result_bytes", max_result_bytes),
        ("max_memory_usage_bytes", max_memory_usage_bytes),
        ("max_body_bytes", max_body_bytes),
    ):
        if value <= 0:
            # 0 means "no limit" to ClickHouse; an unlimited read API is not an option here.
            raise ValueError(f"{name} must be > 0, got {value}")

    app = web.Application(client_max_size=max_body_bytes)
    app[CLIENT_KEY] = client
    app[_STATE_KEY] = _QueryAPI(
        engine=ReadOnlyEngine(dsn),
        limits={
            "max_result_rows": str(int(max_result_rows)),
            "max_result_bytes": str(int(max_result_bytes)),
            "max_execution_time": _number(max_execution_time_s),
            "max_memory_usage": str(int(max_memory_usage_bytes)),
        },
        max_body_bytes=max_body_bytes,
        # Serializes requests before they reach the worker thread, so requests whose
        # clients went away do not queue up work behind a slow query.
        lock=asyncio.Lock(),
    )
    app.cleanup_ctx.append(_worker_thread)
    app.router.add_get("/ping", _ping)
    app.router.add_get("/", _query)
    app.router.add_post("/", _query)
    return app


async def _worker_thread(app: web.Application) -> AsyncIterator[None]:
    # One thread: chdb calls block, and one thread at a time is what the sessions want.
    state = app[_STATE_KEY]
    state.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-api")
    try:
        yield
    finally:
        executor, state.executor = state.executor, None
        try:
            await asyncio.get_running_loop().run_in_executor(executor, state.engine.close)
        finally:
            executor.shutdown(wait=False)


async def _ping(request: web.Request) -> web.Response:
    return web.Response(text="Ok.\n")


async def _query(request: web.Request) -> web.Response:
    query_id = request.query.get("query_id") or str(uuid.uuid4())
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error_response(
            ClickHouseError.make(
                QUERY_IS_TOO_LARGE,
                "QUERY_IS_TOO_LARGE",
                f"Request body is larger than {request.app[_STATE_KEY].max_body_bytes} bytes",
            ),
            query_id,
        )
    try:
        query = parse_request(request, body, request.app[_STATE_KEY].limits)
        if query is None:
            # What ClickHouse answers to a bare GET /: health checks use it.
            return web.Response(text="Ok.\n")
        state = request.app[_STATE_KEY]
        executor = state.executor
        if executor is None:
            raise RuntimeError("the query app is not running")
        async with state.lock:
            data, output_format = await asyncio.get_running_loop().run_in_executor(
                executor, state.engine.execute, query
            )
    except ClickHouseError as exc:
        return error_response(exc, query_id)
    except DatabaseError as exc:
        message = str(exc)
        code = getattr(exc, "code", None) or code_in(message) or STD_EXCEPTION
        return error_response(ClickHouseError(int(code), message), query_id)
    except ProgrammingError as exc:
        # clickhouse-connect refused the request before the engine saw it (a setting name
        # that is not an identifier, say): the request is at fault.
        return error_response(
            ClickHouseError.make(BAD_ARGUMENTS, "BAD_ARGUMENTS", str(exc)), query_id
        )
    except Exception as exc:
        log.exception("query API: unexpected failure")
        return error_response(
            ClickHouseError.make(STD_EXCEPTION, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}"),
            query_id,
        )
    return web.Response(
        body=data,
        headers={
            "Content-Type": _content_type(output_format),
            "X-ClickHouse-Format": output_format,
            "X-ClickHouse-Query-Id": query_id,
        },
    )



def _content_type(output_format: str) -> str:
    name = output_format.lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        header = "present" if "withnames" in name else "absent"
        return f"text/csv; charset=UTF-8; header={header}"
    if name.startswith("json") or name == "ndjson":
        return "application/json; charset=UTF-8"
    if name == "xml":
        return "application/xml; charset=UTF-8"
    if name in {"markdown", "md"}:
        return "text/markdown; charset=UTF-8"
    if name.startswith(("pretty", "vertical", "values", "customseparated", "template")) or name in {
        "lineasstring",
        "sqlinsert",
        "prometheus",
    }:
        return "text/plain; charset=UTF-8"
    # Native, RowBinary*, Parquet, Arrow, ORC, Avro, Protobuf, MsgPack, RawBLOB, ...
    return "application/octet-stream"



def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


