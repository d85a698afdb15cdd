"""Turning an HTTP request into a query for the engine: SQL, format, database, settings.

Parameters are read as ClickHouse's HTTP interface reads them; limits are applied here so
that a client may lower them but never raise them.
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from services.clickhouse.query_api.engine import Query, RawParam
from services.clickhouse.query_api.errors import (
    BAD_ARGUMENTS,
    NOT_IMPLEMENTED,
    READONLY,
    SYNTAX_ERROR,
    UNKNOWN_FORMAT,
    ClickHouseError,
)

# Request parameters that belong to the HTTP interface, not to the engine: dropped here
# (ClickHouse interprets them itself; forwarding them to chdb would fail as unknown or
# change transport behaviour this app does not have).
_HTTP_ONLY_PARAMS: Final = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "close_session",
        "compress",
        "decompress",
        "wait_end_of_query",
        "user",
        "password",
        "quota_key",
        "buffer_size",
        "role",
        "stacktrace",
        "client_protocol_version",
        "enable_http_compression",
        "http_zlib_compression_level",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_wait_end_of_query",
        "http_response_buffer_size",
        "add_http_cors_header",
    }
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The server-side placeholder shape clickhouse-connect itself recognises ({name:Type}); a
# parameter is handed over only when the query has its placeholder, because without one
# clickhouse-connect would %-format the query client-side.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^}]+\}")
_TRUE = frozenset({"1", "true", "yes", "on"})


def parse_request(
    request: web.Request, body: bytes, limits: dict[str, str]
) -> Query | None:
    """The query from the URL parameters and the body; None for a bare GET."""
    params = request.query
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ClickHouseError.make(
            BAD_ARGUMENTS, "BAD_ARGUMENTS", "The query is not valid UTF-8"
        ) from None
    url_query = params.get("query")
    if url_query is not None and text:
        sql = f"{url_query}\n{text}"  # ClickHouse joins the two this way
    elif url_query is not None:
        sql = url_query
    elif text:
        sql = text
    elif request.method == "GET":
        return None
    else:
        sql = ""
    if not sql.strip():
        raise ClickHouseError.make(SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query")

    for flag in ("compress", "decompress"):
        if params.get(flag, "0").strip().lower() in _TRUE:
            raise ClickHouseError.make(
                NOT_IMPLEMENTED,
                "NOT_IMPLEMENTED",
                f"{flag}=1 (ClickHouse-framed compression) is not supported by this endpoint",
            )

    default_format = params.get("default_format", "").strip() or None
    if default_format is not None and not _IDENTIFIER.match(default_format):
        # It is appended to the query as a FORMAT clause: an identifier and nothing else.
        raise ClickHouseError.make(
            UNKNOWN_FORMAT, "UNKNOWN_FORMAT", f"Unknown format {default_format!r}"
        )

    database = params.get("database", "").strip() or "default"
    settings: dict[str, str] = {}
    parameters: dict[str, RawParam] = {}
    placeholders = set(_PLACEHOLDER.findall(sql))
    for name, value in params.items():
        if name in _HTTP_ONLY_PARAMS:
            continue
        if name.startswith("param_"):
            if name[6:] in placeholders:
                parameters[name[6:]] = RawParam(value)
            continue
        if name == "readonly":
            # The sessions are readonly = 1 whatever is asked; asking for less is refused
            # with the engine's wording, asking for readonly is a no-op.
            if value.strip() in {"", "0"}:
                raise ClickHouseError.make(
                    READONLY, "READONLY", "Cannot modify 'readonly' setting in readonly mode"
                )
            continue
        settings[name] = value
    for name, limit in limits.items():
        settings[name] = _capped(settings.get(name), limit)
    for mode in ("result_overflow_mode", "timeout_overflow_mode"):
        settings.setdefault(mode, "throw")
    return Query(
        sql=sql,
        default_format=default_format,
        database=database,
        settings=tuple(sorted(settings.items())),
        parameters=parameters,
    )


def _capped(requested: str | None, limit: str) -> str:
    """A client may lower a limit, never raise or remove it (0 means "none")."""
    if requested is None:
        return limit
    try:
        asked = float(requested)
    except ValueError:
        return limit
    return requested.strip() if 0 < asked <= float(limit) else limit


