"""`/api/v1/events` (GET, or POST with a form or JSON body): accept a postback.

Accepted: published to the raw postbacks topic and answered 200 once the broker (or, while
the broker is away, the spool) has it. Refused, in this order: too large (413), from an
address outside the allow-list (403), with a token that matches no offer (401) or posted
from outside that offer's allow-list (403), invalid (400). Every refusal is still
published, as a PostbackIssue with its reason (`issues.py`), so that every request that
reached us can be found in ClickHouse with the reason it was refused.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from multidict import MultiMapping

from schemas import topics
from schemas.messages import Postback
from services.receiver import keys
from services.receiver.intake import take_in
from services.receiver.issues import Received, refuse
from services.receiver.postback_parse import Rejection, parse_postback, pick, rejection_for
from services.receiver.responses import json_response


async def handle_postback(request: web.Request) -> web.StreamResponse:
    received, problem = await take_in(request)
    if problem is not None:
        return await refuse(request, received, problem)
    params = _first_values(request.query)
    try:
        params.update(_body_params(request, received.body))
        token_problem = request.app[keys.ACCESS].token_problem(pick(params, "token"),
                                                               received.source_ip)
        if token_problem is not None:
            raise rejection_for(*token_problem, params)
        postback = postback_from(params, received)
    except Rejection as rejection:
        if not rejection.click_id:  # refused before parsing: name what the request names
            rejection = rejection_for(rejection.reason, rejection.detail, params)
        return await refuse(request, received, rejection)
    return await accept(request, postback)


def postback_from(params: dict[str, str], received: Received, ins_account: str = "") -> Postback:
    """The Postback these parameters describe (raises Rejection when they are bad input).

    `ins_account` only from the INS route, after decryption: never from a parameter."""
    return parse_postback(
        params,
        postback_id=received.postback_id,
        received_at=received.received_at,
        method=received.method,
        path=received.path,
        source_ip=received.source_ip,
        query_string=received.query_string,
        body=received.body,
        ins_account=ins_account,
    )


async def accept(request: web.Request, postback: Postback) -> web.Response:
    """Publish (broker or spool), then answer 200."""
    publisher = request.app[keys.PUBLISHER]
    spooled = await publisher.publish(topics.RAW_POSTBACKS, postback.click_id, postback)
    body: dict[str, object] = {"status": "accepted", "postback_id": postback.postback_id}
    if spooled:
        body["spooled"] = True  # durable on local disk; reaches Kafka once the broker is back
    return json_response(body)


def _first_values(multi: MultiMapping[str]) -> dict[str, str]:
    return {k: multi.getone(k) for k in multi}


def _body_params(request: web.Request, body: str) -> dict[str, str]:
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
    if request.content_type == "application/x-www-form-urlencoded":
        params: dict[str, str] = {}
        for key, value in parse_qsl(body, keep_blank_values=True):
            params.setdefault(key, value)  # first value wins, as in the query string
        return params
    raise Rejection(
        "invalid",
        f"body: content type {request.content_type!r} is not supported "
        "(use application/x-www-form-urlencoded or application/json)",
    )
