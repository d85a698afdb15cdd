"""JSON answers of the receiver: every error a client gets names the problem."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from services.receiver.spool import SpoolFull

# The reason code an answer carries, for the metrics middleware.
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


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own errors (404 route, 405 method, 413 body) as JSON instead of text/html,
    and a full spool as 503 with Retry-After: the sender keeps the request and retries."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except SpoolFull as exc:
        return rejected(
            503, "unavailable",
            f"the broker is unreachable and the local spool is full ({exc}); retry later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "bad_request"
        )
        return rejected(exc.status, reason, exc.text or exc.reason)
