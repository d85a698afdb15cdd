"""Recording what the receiver refuses: every refused request becomes a PostbackIssue.

Nothing received is lost: a rejected postback or INS notification is published to
`hopstream.postback-issues` with its reason code before the client gets its 4xx, and so
reaches the `postback_issues` table like everything else. The HTTP status of each reason
is decided here, once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import orjson
from aiohttp import web

from schemas import topics
from schemas.messages import PostbackIssue
from services.receiver import keys
from services.receiver.postback_parse import Rejection
from services.receiver.responses import REASON, json_response, rejected

log = logging.getLogger(__name__)

STATUS = {
    "invalid": 400,
    "undecryptable": 400,
    "bad_token": 401,
    "forbidden_ip": 403,
    "unknown_account": 404,
    "too_large": 413,
}
# What a rejected request's record keeps of its query string and body: enough to see what
# was sent, bounded so that an oversized request cannot become an oversized message.
RAW_KEEP_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Received:
    """The request as it arrived: what an issue record keeps of it."""

    postback_id: str
    received_at: datetime
    method: str
    path: str
    query_string: str
    body: str
    source_ip: str

    def raw(self) -> str:
        return orjson.dumps({
            "method": self.method, "path": self.path,
            "query_string": self.query_string[:RAW_KEEP_CHARS],
            "body": self.body[:RAW_KEEP_CHARS], "source_ip": self.source_ip,
        }).decode()


def received_from(request: web.Request, *, postback_id: str, received_at: datetime,
                  body: str, source_ip: str) -> Received:
    return Received(postback_id, received_at, request.method, request.path,
                    request.query_string, body, source_ip)


async def record_issue(request: web.Request, received: Received, rejection: Rejection) -> None:
    issue = PostbackIssue(
        postback_id=received.postback_id,
        reason=rejection.reason,
        detail=rejection.detail,
        received_at=received.received_at,
        click_id=rejection.click_id,
        event=rejection.event,
        receipt=rejection.receipt,
        raw=received.raw(),
    )
    publisher = request.app[keys.PUBLISHER]
    await publisher.publish(topics.POSTBACK_ISSUES, issue.click_id or issue.postback_id, issue)


async def refuse(request: web.Request, received: Received, rejection: Rejection) -> web.Response:
    """Record the refused request, then answer its 4xx."""
    await record_issue(request, received, rejection)
    status = STATUS.get(rejection.reason, 400)
    # key=value, one line per refusal: greppable, and parsed as-is by log collectors.
    log.info("refused status=%d reason=%s postback_id=%s path=%s source_ip=%s click_id=%s "
             "detail=%s", status, rejection.reason, received.postback_id, received.path,
             received.source_ip, rejection.click_id[:100] or "-",
             orjson.dumps(rejection.detail).decode())
    return rejected(status, rejection.reason, rejection.detail,
                    postback_id=received.postback_id)


async def record_only(request: web.Request, received: Received,
                      rejection: Rejection) -> web.Response:
    """Recorded with a reason but acknowledged (200): the sender did nothing wrong, and
    must not retry (ClickBank's test notifications, transaction types that pay nothing)."""
    await record_issue(request, received, rejection)
    response = json_response({"status": "recorded", "reason": rejection.reason,
                              "detail": rejection.detail, "postback_id": received.postback_id})
    response[REASON] = rejection.reason
    return response
