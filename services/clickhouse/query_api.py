"""ClickHouse's HTTP query interface, read-only, for the embedded (chdb) engine.

Why: chdb runs ClickHouse inside one process, and only one process may open a chdb data
path. In embedded mode that process is the owner of the data (the sink, in
`hopstream dev`); nothing else can open the files, so the owner serves reads for everyone
else through the protocol they already speak: curl, Grafana and clickhouse-connect's own
HTTP client (`clickhouse_connect.get_client(interface='http', port=...)`) talk to this app
as if it were a ClickHouse server.

What it serves:

* `GET /?query=...` and `POST /` with the query as the body. With both, the query is the
  `query` parameter + "\\n" + the body, as ClickHouse does. `GET /ping` and a bare `GET /`
  answer `Ok.\\n`.
* The result is what the engine writes: the query's own `FORMAT X` clause if it has one,
  else the `default_format` parameter, else TabSeparated. `Content-Type` follows
  the format and `X-ClickHouse-Format` names it; `X-ClickHouse-Query-Id` echoes `query_id`.
* URL parameters: `database` selects the current database (`USE`, per request);
  `param_NAME=value` binds `{NAME:Type}` placeholders server-side (chdb supports them; the
  value is in ClickHouse's escaped text form, exactly as the HTTP interface takes it, and
  the placeholder must be written without spaces, `{name:Type}`); `readonly` may be sent
  but never lowered; HTTP-only parameters (`query_id`, `session_id`, `user`, `password`,
  `wait_end_of_query`, `enable_http_compression`, `send_progress_in_http_headers`, ...)
  are dropped, and every other parameter is a ClickHouse setting handed to the engine
  (an unknown one fails as on a server: `Code: 115 ... UNKNOWN_SETTING`).
* Errors are ClickHouse's text, the engine's own message wherever the engine refused
  (`Code: 164. DB::Exception: ... (READONLY)`), never HTML, with the code also in
  `X-ClickHouse-Exception-Code`. HTTP status: READONLY 164, ACCESS_DENIED 497,
  INTO_OUTFILE_NOT_ALLOWED 358 and QUERY_IS_PROHIBITED 392 -> 403; UNKNOWN_TABLE 60 and
  UNKNOWN_DATABASE 81 -> 404; syntax and analysis errors (62, 47, 46, 43, 386, 115, ...)
  -> 400; TIMEOUT_EXCEEDED 159 -> 408 and a too-large request -> 413, as ClickHouse does;
  NOT_IMPLEMENTED 48 -> 501; anything else, including TOO_MANY_ROWS_OR_BYTES 396 and
  MEMORY_LIMIT_EXCEEDED 241, -> 500 as on a real server (a client written against
  ClickHouse sees the same status for the same failure).

How it stays read-only: by the engine's `readonly` setting, which checks everything a
statement touches (tables, table functions, settings), plus a check of the statement kind
where chdb's `readonly` has gaps. Both were verified against chdb 4.4:

* Every query runs on a chdb session of the app's own (a clickhouse-connect client on the
  same engine path, never the caller's client), on which the request's settings and the
  server's limits are applied first and then `readonly = 1`, which cannot be undone on
  that session. `readonly = 2` (the obvious choice, as it lets clients change settings)
  is NOT enough in chdb: it still lets a query read any local file (`file()` table
  function), write one (`INSERT INTO FUNCTION file(...)`), call out (`url()`) and create
  temporary tables; `readonly = 1` refuses all of those. Because the settings are applied
  before the session turns read-only, clients still pass settings as URL parameters
  (`max_result_rows=10`, `output_format_json_quote_64bit_integers=0`, ...); what
  readonly = 1 refuses is changing a setting inside the SQL (`SET x = 1`,
  `... SETTINGS x = 1`), and clickhouse-connect, which reads `system.settings.readonly`,
  declines to send per-query settings unless its `invalid_setting_action` is 'send'.
  Sessions are pooled by their settings; the database is selected again on every request,
  so a `USE` does not carry into the next request. `session_id` is accepted and ignored.
* Even at readonly = 1, chdb runs some statements that are not reads: `SYSTEM STOP/START
  MERGES` (engine-wide: it would stop the owner's merges), `KILL QUERY` (every chdb query
  runs as the one `default` user, so it could cancel the owner's queries), `UNDROP`,
  `BACKUP`, and `INTO OUTFILE`, which chdb executes itself (a client-side clause in
  clickhouse-local, which chdb is), writing any path the process can write. So before a
  query runs, the engine's own parser renders it in canonical form
  (`formatQuerySingleLine`: keywords upper-case, comments gone, literals quoted) and only
  SELECT/WITH, SHOW, DESCRIBE, EXISTS, EXPLAIN and USE statements pass (164 READONLY
  otherwise; SET is refused too, as `SET param_x = ...` passes readonly and would stay on
  the session), without `PARALLEL WITH` or `INTO OUTFILE` (358 INTO_OUTFILE_NOT_ALLOWED, as
  ClickHouse's HTTP server answers). This reads the statement kind from the engine's parse,
  not from the SQL text; a query the parser rejects gets the parser's error. The same
  parse tells the output format (the FORMAT clause) for Content-Type.
* Left open, for want of any chdb setting that closes it: the scalar function
  `file('path')` reads local files even at readonly = 1. Bind the app to loopback.

Enforcement versus defence in depth: ClickHouse's `readonly = 1` is what makes the
interface read-only; the statement-kind check above only closes the gaps chdb's readonly
leaves, and is not relied on for anything readonly already refuses.

Limits: `max_result_rows`, `max_result_bytes` (the whole result is held in memory before
it is sent) and `max_execution_time` come from the settings HOPSTREAM_QUERY_MAX_RESULT_ROWS,
_RESULT_BYTES and _EXECUTION_S (passed in by `services.sink.run`); they and
`max_memory_usage` are set on every session with
`result_overflow_mode = 'throw'`; a client may lower them, never raise them. Request bodies
are bounded (413 above `max_body_bytes`). Queries run one at a time on a single worker
thread (chdb calls block), so a slow query delays the next ones: the time limit bounds that.

Not supported: responses are never compressed (`enable_http_compression` is ignored;
there is no Content-Encoding, which every HTTP client reads), ClickHouse-framed
`compress=1`/`decompress=1` (501), sessions, external data, progress headers, and
authentication: chdb has no users, so `user`/`password` are ignored; bind the app to the
loopback interface.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import clickhouse_connect
from aiohttp import web
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

log = logging.getLogger(__name__)

#: The caller's clickhouse-connect client (chdb). The app only reads its engine path; its
#: queries run on sessions of their own, so the caller's client is never made read-only.
CLIENT_KEY: Final[web.AppKey[Any]] = web.AppKey("hopstream.query_api.client")

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_MAX_RESULT_BYTES: Final = 256 * 1024 * 1024
DEFAULT_MAX_MEMORY_USAGE: Final = 2 * 1024 * 1024 * 1024
# Distinct sets of request settings each need a session of their own (settings cannot
# change once a session is read-only); clients send the same few sets again and again.
SESSION_POOL_SIZE: Final = 8

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

# ClickHouse error codes (src/Common/ErrorCodes.cpp) -> HTTP status.
_FORBIDDEN: Final = frozenset({164, 358, 392, 497})  # READONLY, INTO_OUTFILE_NOT_ALLOWED, ...
_NOT_FOUND: Final = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
_BAD_REQUEST: Final = frozenset(
    {
        6, 8, 15, 16, 25, 26, 27, 36, 37, 38, 41, 42, 43, 44, 46, 47, 50, 53, 56, 62, 63, 69,
        70, 72, 73, 78, 80, 115, 117, 152, 153, 161, 162, 167, 168, 181, 182, 184, 215, 223,
        321, 352, 376, 386, 427, 456, 457, 675, 676,
    }
)  # fmt: skip
_TIMEOUT: Final = frozenset({159})  # TIMEOUT_EXCEEDED
_TOO_LARGE: Final = frozenset({229})  # QUERY_IS_TOO_LARGE

_READONLY = 164
_BAD_ARGUMENTS = 36
_SYNTAX_ERROR = 62
_UNKNOWN_FORMAT = 73
_NOT_IMPLEMENTED = 48
_QUERY_IS_TOO_LARGE = 229
_INTO_OUTFILE_NOT_ALLOWED = 358
_STD_EXCEPTION = 1001

# The output format clause in the canonical form: last, or followed only by SETTINGS.
_FORMAT_CLAUSE = re.compile(r" FORMAT ([A-Za-z_][A-Za-z0-9_]*)(?: SETTINGS .*)?\Z", re.DOTALL)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The server-side placeholder shape clickhouse-connect itself recognises ({name:Type}); a
# parameter is handed over only when the query has its placeholder, because without one
# clickhouse-connect would %-format the query client-side.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^}]+\}")
_CODE_IN_MESSAGE = re.compile(r"Code: (\d+)")
_WRAPPER_SCOPE = re.compile(r":? In scope SELECT formatQuerySingleLine\('(?:[^'\\]|\\.)*'\)")
_TRUE = frozenset({"1", "true", "yes", "on"})
# Statement kinds a read client sends (the first word of the canonical form). Everything
# else is refused before it runs: chdb's readonly lets some non-reads through (see above).
# Not SET: readonly = 1 refuses setting changes, but `SET param_x = ...` passes and would
# stay on the pooled session. USE is undone by the next request.
_READ_STATEMENTS: Final = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "EXISTS", "EXPLAIN", "USE"}
)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)


class ClickHouseError(Exception):
    """A failure answered ClickHouse-style: a code and the engine's message text."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def make(cls, code: int, name: str, text: str) -> ClickHouseError:
        """An error this app raises itself, worded as the engine words its own."""
        return cls(code, f"Code: {code}. DB::Exception: {text}. ({name})")


class _RawParam:
    """A query-parameter value already in ClickHouse's escaped text form, as the HTTP
    interface takes it. clickhouse-connect formats values it does not know with str(); its
    own str handling would escape the text a second time (`\\N` would stop being NULL)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Query:
    """One request, ready for the engine."""

    sql: str
    default_format: str | None  # used when the query has no FORMAT clause of its own
    database: str
    settings: tuple[tuple[str, str], ...]
    parameters: dict[str, _RawParam]


class _ReadOnlyEngine:
    """Runs queries on read-only chdb sessions. Every method runs on the app's single
    worker thread, which is what serializes the sessions and the pool."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._sessions: OrderedDict[tuple[tuple[str, str], ...], Any] = OrderedDict()

    def execute(self, query: _Query) -> tuple[bytes, str]:
        """The result of `query` and the name of its output format."""
        session = self._session(query.settings)
        try:
            own_format = self._check_statement(session, query.sql)
            sql, fmt = query.sql, None
            if own_format is None and query.default_format is not None:
                # raw_query appends "\n FORMAT X"; a trailing ";" would end the query first.
                sql, fmt = re.sub(r"[\s;]+\Z", "", sql), query.default_format
            # Every request names its database: a `USE` sent by an earlier request on this
            # session must not carry over.
            session.raw_query(f"USE {_quote_identifier(query.database)}", use_database=False)
            data: bytes = session.raw_query(
                sql, parameters=query.parameters or None, fmt=fmt, use_database=False
            )
            # Without a FORMAT anywhere, chdb writes TabSeparated (raw_query's default),
            # which is also ClickHouse's HTTP default.
            return data, own_format or fmt or "TabSeparated"
        except (DatabaseError, ProgrammingError, ClickHouseError):
            raise
        except Exception:
            # Not an answer from the engine: do not trust this session again.
            self._discard(query.settings)
            raise

    def close(self) -> None:
        while self._sessions:
            _, session = self._sessions.popitem()
            _close_quietly(session)

    def _session(self, settings: tuple[tuple[str, str], ...]) -> Any:
        session = self._sessions.get(settings)
        if session is not None:
            self._sessions.move_to_end(settings)
            return session
        session = self._open_session(settings)
        self._sessions[settings] = session
        while len(self._sessions) > SESSION_POOL_SIZE:
            _, oldest = self._sessions.popitem(last=False)
            _close_quietly(oldest)
        return session

    def _open_session(self, settings: tuple[tuple[str, str], ...]) -> Any:
        # A client of its own on the same engine path: chdb allows any number of
        # connections to the one engine of a process, and session state (settings, USE,
        # readonly) belongs to the connection, so the caller's client is left untouched.
        session = clickhouse_connect.get_client(dsn=self._dsn)
        try:
            for name, value in settings:
                session.set_client_setting(name, value)
            # Last, and for good: readonly = 1 cannot be lowered again on this session.
            session.command("SET readonly = 1")
            readonly = str(session.command("SELECT getSetting('readonly')")).strip()
            if readonly != "1":
                raise RuntimeError(f"the chdb session did not become read-only ({readonly!r})")
        except BaseException:
            _close_quietly(session)
            raise
        return session

    def _discard(self, settings: tuple[tuple[str, str], ...]) -> None:
        session = self._sessions.pop(settings, None)
        if session is not None:
            _close_quietly(session)

    @staticmethod
    def _check_statement(session: Any, sql: str) -> str | None:
        """Refuse what chdb's `readonly` lets through; return the query's FORMAT, if any.

        The engine's own parser renders the query in canonical form (keywords upper-case,
        comments gone, literals quoted), so the statement kind is its first word and a
        clause is a keyword sequence."""
        try:
            canonical: bytes = session.raw_query(
                f"SELECT formatQuerySingleLine({_quote_string(sql)})",
                fmt="RawBLOB",
                use_database=False,
            )
        except DatabaseError as exc:
            # The query does not parse: answer the parser's error, without the wrapper
            # the engine names as the scope ("In scope SELECT formatQuerySingleLine(...)").
            message = _WRAPPER_SCOPE.sub("", str(exc))
            code = getattr(exc, "code", None) or _code_in(message) or _SYNTAX_ERROR
            raise ClickHouseError(int(code), message) from None
        # Blank out literals and quoted identifiers: text inside them is not a clause.
        bare = _QUOTED.sub("''", canonical.decode("utf-8", "replace")).strip()
        kind = "SELECT" if bare.startswith("(") else (bare.split(None, 1) or [""])[0].upper()
        if kind not in _READ_STATEMENTS or " PARALLEL WITH " in bare:
            raise ClickHouseError.make(
                _READONLY,
                "READONLY",
                f"{kind or 'This'} queries are not allowed on this read-only endpoint (it runs "
                f"{', '.join(sorted(_READ_STATEMENTS))})",
            )
        if " INTO OUTFILE " in bare:
            raise ClickHouseError.make(
                _INTO_OUTFILE_NOT_ALLOWED, "INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed"
            )
        own_format = _FORMAT_CLAUSE.search(bare)
        return own_format.group(1) if own_format else None


@dataclass
class _QueryAPI:
    engine: _ReadOnlyEngine
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
        engine=_ReadOnlyEngine(dsn),
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
        return _error_response(
            ClickHouseError.make(
                _QUERY_IS_TOO_LARGE,
                "QUERY_IS_TOO_LARGE",
                f"Request body is larger than {request.app[_STATE_KEY].max_body_bytes} bytes",
            ),
            query_id,
        )
    try:
        query = _parse_request(request, body)
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
        return _error_response(exc, query_id)
    except DatabaseError as exc:
        message = str(exc)
        code = getattr(exc, "code", None) or _code_in(message) or _STD_EXCEPTION
        return _error_response(ClickHouseError(int(code), message), query_id)
    except ProgrammingError as exc:
        # clickhouse-connect refused the request before the engine saw it (a setting name
        # that is not an identifier, say): the request is at fault.
        return _error_response(
            ClickHouseError.make(_BAD_ARGUMENTS, "BAD_ARGUMENTS", str(exc)), query_id
        )
    except Exception as exc:
        log.exception("query API: unexpected failure")
        return _error_response(
            ClickHouseError.make(_STD_EXCEPTION, "STD_EXCEPTION", f"{type(exc).__name__}: {exc}"),
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


def _parse_request(request: web.Request, body: bytes) -> _Query | None:
    """The query from the URL parameters and the body; None for a bare GET."""
    params = request.query
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ClickHouseError.make(
            _BAD_ARGUMENTS, "BAD_ARGUMENTS", "The query is not valid UTF-8"
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
        raise ClickHouseError.make(_SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query")

    for flag in ("compress", "decompress"):
        if params.get(flag, "0").strip().lower() in _TRUE:
            raise ClickHouseError.make(
                _NOT_IMPLEMENTED,
                "NOT_IMPLEMENTED",
                f"{flag}=1 (ClickHouse-framed compression) is not supported by this endpoint",
            )

    default_format = params.get("default_format", "").strip() or None
    if default_format is not None and not _IDENTIFIER.match(default_format):
        # It is appended to the query as a FORMAT clause: an identifier and nothing else.
        raise ClickHouseError.make(
            _UNKNOWN_FORMAT, "UNKNOWN_FORMAT", f"Unknown format {default_format!r}"
        )

    database = params.get("database", "").strip() or "default"
    settings: dict[str, str] = {}
    parameters: dict[str, _RawParam] = {}
    placeholders = set(_PLACEHOLDER.findall(sql))
    for name, value in params.items():
        if name in _HTTP_ONLY_PARAMS:
            continue
        if name.startswith("param_"):
            if name[6:] in placeholders:
                parameters[name[6:]] = _RawParam(value)
            continue
        if name == "readonly":
            # The sessions are readonly = 1 whatever is asked; asking for less is refused
            # with the engine's wording, asking for readonly is a no-op.
            if value.strip() in {"", "0"}:
                raise ClickHouseError.make(
                    _READONLY, "READONLY", "Cannot modify 'readonly' setting in readonly mode"
                )
            continue
        settings[name] = value
    state = request.app[_STATE_KEY]
    for name, limit in state.limits.items():
        settings[name] = _capped(settings.get(name), limit)
    for mode in ("result_overflow_mode", "timeout_overflow_mode"):
        settings.setdefault(mode, "throw")
    return _Query(
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


def _error_response(error: ClickHouseError, query_id: str) -> web.Response:
    return web.Response(
        status=_http_status(error.code),
        text=error.message.rstrip("\n") + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={
            "X-ClickHouse-Exception-Code": str(error.code),
            "X-ClickHouse-Query-Id": query_id,
        },
    )


def _http_status(code: int) -> int:
    if code in _FORBIDDEN:
        return 403
    if code in _NOT_FOUND:
        return 404
    if code in _BAD_REQUEST:
        return 400
    if code in _TIMEOUT:
        return 408
    if code in _TOO_LARGE:
        return 413
    if code == _NOT_IMPLEMENTED:
        return 501
    return 500


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


def _code_in(message: str) -> int | None:
    match = _CODE_IN_MESSAGE.search(message)
    return int(match.group(1)) if match else None


def _quote_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _close_quietly(session: Any) -> None:
    try:
        session.close()
    except Exception:
        log.debug("query API: closing a chdb session failed", exc_info=True)
