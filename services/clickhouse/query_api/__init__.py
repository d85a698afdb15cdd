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

from services.clickhouse.query_api.app import CLIENT_KEY, create_query_app

__all__ = ["CLIENT_KEY", "create_query_app"]
