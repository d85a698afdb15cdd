"""JSON answers of the receiver: every error a client gets names the problem."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json"
    )


def rejected(status: int, reason: str, detail: str, **extra: Any) -> web.Response:
    return json_response(
        {"status": "rejected", "reason": reason, "detail": detail, **extra}, status
    )


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """aiohttp's own errors (404 route, 405 method, 413 body) as JSON instead of text/html."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "bad_request"
        )
        return rejected(exc.status, reason, exc.text or exc.reason)
