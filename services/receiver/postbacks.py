"""`/api/v1/events` (GET, or POST with a form or JSON body): accept a postback.

Accepted: published to the raw postbacks topic and answered 200 once the broker has it.
Rejected: answered 4xx with the reason and still published, as a PostbackIssue, so that
every request that reached us can be found in ClickHouse with the reason it was refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from aiohttp import web
from multidict import MultiMapping

from hopstream.ids import new_id
from schemas import topics
from schemas.messages import PostbackIssue
from services.receiver import keys
from services.receiver.postback_parse import Rejection, parse_postback
from services.receiver.responses import json_response, rejected


async def handle_postback(request: web.Request) -> web.StreamResponse:
    postback_id = new_id()
    received_at = datetime.now(UTC)
    body_bytes = await request.read()
    body = body_bytes.decode("utf-8", errors="replace")
    params = _first_values(request.query)
    try:
        params.update(await _body_params(request, body_bytes))
        postback = parse_postback(
            params,
            postback_id=postback_id,
            received_at=received_at,
            method=request.method,
            path=request.path,
            source_ip=request.remote or "",
            query_string=request.query_string,
            body=body,
        )
    except Rejection as rejection:
        issue = PostbackIssue(
            postback_id=postback_id,
            reason=rejection.reason,
            detail=rejection.detail,
            received_at=received_at,
            click_id=rejection.click_id,
            event=rejection.event,
            receipt=rejection.receipt,
            raw=orjson.dumps(
                {"method": request.method, "path": request.path,
                 "query_string": request.query_string, "body": body,
                 "source_ip": request.remote or ""}
            ).decode(),
        )
        publisher = request.app[keys.PUBLISHER]
        await publisher.publish(topics.POSTBACK_ISSUES, issue.click_id or postback_id, issue)
        return rejected(400, rejection.reason, rejection.detail, postback_id=postback_id)
    await request.app[keys.PUBLISHER].publish(topics.RAW_POSTBACKS, postback.click_id, postback)
    return json_response({"status": "accepted", "postback_id": postback_id})


def _first_values(multi: MultiMapping[str]) -> dict[str, str]:
    return {k: multi.getone(k) for k in multi}


async def _body_params(request: web.Request, body: bytes) -> dict[str, str]:
    if request.method != "POST" or not body:
        return {}
    if request.content_type == "application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Rejection("invalid", f"body: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise Rejection("invalid", "body: a JSON body must be an object of parameters")
        # Scalars become their JSON text, so a numeric payout keeps its exact digits
        # only if sent as a string: documented in the README.
        return {str(k): v if isinstance(v, str) else orjson.dumps(v).decode()
                for k, v in data.items() if v is not None}
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return {k: v for k, v in ((k, form.getone(k)) for k in form) if isinstance(v, str)}
    raise Rejection(
        "invalid",
        f"body: content type {request.content_type!r} is not supported "
        "(use application/x-www-form-urlencoded or application/json)",
    )
