"""Running queries on read-only chdb sessions of the query interface's own.

`readonly = 1` on every session is the enforcement; the statement-kind check closes the
gaps chdb's readonly leaves (see the package docstring for both, as verified on chdb 4.4).
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, ProgrammingError

from services.clickhouse.query_api.errors import (
    INTO_OUTFILE_NOT_ALLOWED,
    READONLY,
    SYNTAX_ERROR,
    ClickHouseError,
    code_in,
)

log = logging.getLogger(__name__)

# Distinct sets of request settings each need a session of their own (settings cannot
# change once a session is read-only); clients send the same few sets again and again.
SESSION_POOL_SIZE: Final = 8

# The output format clause in the canonical form: last, or followed only by SETTINGS.
_FORMAT_CLAUSE = re.compile(r" FORMAT ([A-Za-z_][A-Za-z0-9_]*)(?: SETTINGS .*)?\Z", re.DOTALL)
_WRAPPER_SCOPE = re.compile(r":? In scope SELECT formatQuerySingleLine\('(?:[^'\\]|\\.)*'\)")
# Statement kinds a read client sends (the first word of the canonical form). Everything
# else is refused before it runs: chdb's readonly lets some non-reads through (see above).
# Not SET: readonly = 1 refuses setting changes, but `SET param_x = ...` passes and would
# stay on the pooled session. USE is undone by the next request.
_READ_STATEMENTS: Final = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "EXISTS", "EXPLAIN", "USE"}
)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)


class RawParam:
    """A query-parameter value already in ClickHouse's escaped text form, as the HTTP
    interface takes it. clickhouse-connect formats values it does not know with str(); its
    own str handling would escape the text a second time (`\\N` would stop being NULL)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Query:
    """One request, ready for the engine."""

    sql: str
    default_format: str | None  # used when the query has no FORMAT clause of its own
    database: str
    settings: tuple[tuple[str, str], ...]
    parameters: dict[str, RawParam]


class ReadOnlyEngine:
    """Runs queries on read-only chdb sessions. Every method runs on the app's single
    worker thread, which is what serializes the sessions and the pool."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._sessions: OrderedDict[tuple[tuple[str, str], ...], Any] = OrderedDict()

    def execute(self, query: Query) -> tuple[bytes, str]:
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
            code = getattr(exc, "code", None) or code_in(message) or SYNTAX_ERROR
            raise ClickHouseError(int(code), message) from None
        # Blank out literals and quoted identifiers: text inside them is not a clause.
        bare = _QUOTED.sub("''", canonical.decode("utf-8", "replace")).strip()
        kind = "SELECT" if bare.startswith("(") else (bare.split(None, 1) or [""])[0].upper()
        if kind not in _READ_STATEMENTS or " PARALLEL WITH " in bare:
            raise ClickHouseError.make(
                READONLY,
                "READONLY",
                f"{kind or 'This'} queries are not allowed on this read-only endpoint (it runs "
                f"{', '.join(sorted(_READ_STATEMENTS))})",
            )
        if " INTO OUTFILE " in bare:
            raise ClickHouseError.make(
                INTO_OUTFILE_NOT_ALLOWED, "INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed"
            )
        own_format = _FORMAT_CLAUSE.search(bare)
        return own_format.group(1) if own_format else None



def _quote_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"



def _close_quietly(session: Any) -> None:
    try:
        session.close()
    except Exception:
        log.debug("query API: closing a chdb session failed", exc_info=True)
