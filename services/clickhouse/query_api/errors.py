"""ClickHouse-style errors of the query interface: codes, wording and HTTP status.

A client written against a ClickHouse server must see the same status and text for the
same failure, so the mapping follows ClickHouse's HTTP handler.
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

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

READONLY = 164
BAD_ARGUMENTS = 36
SYNTAX_ERROR = 62
UNKNOWN_FORMAT = 73
NOT_IMPLEMENTED = 48
QUERY_IS_TOO_LARGE = 229
INTO_OUTFILE_NOT_ALLOWED = 358
STD_EXCEPTION = 1001

_CODE_IN_MESSAGE = re.compile(r"Code: (\d+)")


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



def error_response(error: ClickHouseError, query_id: str) -> web.Response:
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
    if code == NOT_IMPLEMENTED:
        return 501
    return 500



def code_in(message: str) -> int | None:
    match = _CODE_IN_MESSAGE.search(message)
    return int(match.group(1)) if match else None


