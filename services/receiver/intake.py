"""What every postback-like request (postback, INS notification) goes through first.

Assign its postback id and receive time, find the client's real address, enforce the size
bounds without reading more than allowed, and apply the global source allow-list. The
result is the `Received` record every later decision, and every issue, refers to.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from hopstream.ids import new_id
from services.receiver import keys
from services.receiver.issues import Received, received_from
from services.receiver.postback_parse import Rejection, rejection_for


async def take_in(request: web.Request) -> tuple[Received, Rejection | None]:
    """The request as received, and the reason to refuse it right away (or None)."""
    app = request.app
    settings, access = app[keys.SETTINGS], app[keys.ACCESS]
    postback_id, received_at = new_id(), datetime.now(UTC)
    source_ip = access.client_ip(request.remote or "", request.headers.get("X-Forwarded-For"))

    def received(body: str) -> Received:
        return received_from(request, postback_id=postback_id, received_at=received_at,
                             body=body, source_ip=source_ip)

    def refused(reason: str, detail: str) -> tuple[Received, Rejection]:
        return received(""), rejection_for(reason, detail, request.query)

    max_query, max_body = settings.receiver_max_query_bytes, settings.receiver_max_body_bytes
    if len(request.query_string) > max_query:
        return refused("too_large", f"query string: {len(request.query_string)} characters, "
                       f"at most {max_query} (HOPSTREAM_RECEIVER_MAX_QUERY_BYTES)")
    declared = request.content_length
    if declared is not None and declared > max_body:
        return refused("too_large",
                       f"body: {declared} bytes, at most {max_body} "
                       "(HOPSTREAM_RECEIVER_MAX_BODY_BYTES)")
    try:
        # Bounded by the app's client_max_size too, for bodies sent without a length.
        # A GET has no body: skip the read (and its coroutines) on the hot path.
        body = ((await request.read()).decode("utf-8", errors="replace")
                if request.body_exists else "")
    except web.HTTPRequestEntityTooLarge:
        return refused("too_large",
                       f"body: more than {max_body} bytes (HOPSTREAM_RECEIVER_MAX_BODY_BYTES)")
    problem = access.source_problem(source_ip)
    if problem is not None:
        return received(body), rejection_for("forbidden_ip", problem, request.query)
    return received(body), None
