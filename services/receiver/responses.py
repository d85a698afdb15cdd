"""JSON answers of the receiver: every error a client gets names the problem."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

# The reason code an answer carries, for the metrics (`routes.instrumented`).
REASON = web.ResponseKey("reason", str)
# How long a refused sender should wait when the broker is away and the spool is full.
RETRY_AFTER_S = 30


def json_response(body: dict[str, Any], status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json",
        headers=headers,
    )


def rejected(status: int, reason: str, detail: str, headers: dict[str, str] | None = None,
             **extra: Any) -> web.Response:
    response = json_response(
        {"status": "rejected", "reason": reason, "detail": detail, **extra}, status, headers
    )
    response[REASON] = reason
    return response
