"""`GET /c/{offer_id}`: record the click, send the visitor on to the offer's HopLink.

The click is published (and acknowledged by the broker) before the redirect is answered:
a click lost here is a sale that can never be attributed. The redirect target is the
offer's `tracking_url` with `{click_id}` and any other `{name}` macro filled from the
click's query string (every ClickBank tracking parameter, and any other), URL-encoded; a
macro with no value becomes empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hopstream.ids import new_id
from schemas import topics
from schemas.messages import Click
from services.receiver import keys
from services.receiver.responses import rejected

MACRO = re.compile(r"\{([A-Za-z0-9_]+)\}")
# ClickBank's affiliate tracking parameters: each has its own field on the Click.
TRACKING_PARAMS = (
    "traffic_source", "traffic_type", "offer", "campaign", "adgroup", "ad", "creative",
    "aff_sub1", "aff_sub2", "aff_sub3", "aff_sub4", "aff_sub5", "network_aff",
    "extclid", "fbclid", "gclid", "contact_id",
    "unique_aff_sub1", "unique_aff_sub2", "unique_aff_sub3", "unique_aff_sub4", "unique_aff_sub5",
)


def render_tracking_url(template: str, values: Mapping[str, str]) -> str:
    return MACRO.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)


async def handle_click(request: web.Request) -> web.StreamResponse:
    offer_id = request.match_info["offer_id"]
    offer = request.app[keys.OFFERS].get(offer_id)
    if offer is None:
        return rejected(404, "unknown_offer", f"offer {offer_id[:100]!r} is not configured")
    limit = request.app[keys.SETTINGS].receiver_max_query_bytes
    if len(request.query_string) > limit:
        return rejected(413, "too_large", f"query string: {len(request.query_string)} "
                        f"characters, at most {limit} (HOPSTREAM_RECEIVER_MAX_QUERY_BYTES)")
    params = {k: request.query.getone(k) for k in request.query}
    tracking: dict[str, Any] = {name: params.get(name, "") for name in TRACKING_PARAMS}
    click = Click(
        click_id=new_id(),
        offer_id=offer.id,
        clicked_at=datetime.now(UTC),
        **tracking,
        ip=request.app[keys.ACCESS].client_ip(request.remote or "",
                                               request.headers.get("X-Forwarded-For")),
        user_agent=request.headers.get("User-Agent", ""),
        referer=request.headers.get("Referer", ""),
        params=params,
        query_string=request.query_string,
    )
    await request.app[keys.PUBLISHER].publish(topics.RAW_CLICKS, click.click_id, click)
    location = render_tracking_url(offer.tracking_url, {**params, "click_id": click.click_id})
    # no-store: a cached redirect would hand the same click id to a second visit. Returned,
    # not raised as HTTPFound: the exception path costs noticeably more per click.
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})
