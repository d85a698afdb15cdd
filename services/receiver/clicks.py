"""`GET /c/{offer_id}`: record the click, send the visitor on to the offer's HopLink.

The click is published (and acknowledged by the broker) before the redirect is answered:
a click lost here is a sale that can never be attributed. The redirect target is the
offer's `tracking_url` with `{click_id}` and any other `{name}` macro filled from the
click's query string, URL-encoded; a macro with no value becomes empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from hopstream.ids import new_id
from schemas import topics
from schemas.messages import Click
from services.receiver import keys
from services.receiver.responses import rejected

MACRO = re.compile(r"\{([A-Za-z0-9_]+)\}")


def render_tracking_url(template: str, values: Mapping[str, str]) -> str:
    return MACRO.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), template)


async def handle_click(request: web.Request) -> web.StreamResponse:
    offer_id = request.match_info["offer_id"]
    offer = request.app[keys.OFFERS].get(offer_id)
    if offer is None:
        return rejected(404, "unknown_offer", f"offer {offer_id[:100]!r} is not configured")
    params = {k: request.query.getone(k) for k in request.query}
    click = Click(
        click_id=new_id(),
        offer_id=offer.id,
        clicked_at=datetime.now(UTC),
        traffic_source=params.get("traffic_source", ""),
        campaign=params.get("campaign", ""),
        creative=params.get("creative", ""),
        ip=request.remote or "",
        user_agent=request.headers.get("User-Agent", ""),
        referer=request.headers.get("Referer", ""),
        params=params,
        query_string=request.query_string,
    )
    await request.app[keys.PUBLISHER].publish(topics.RAW_CLICKS, click.click_id, click)
    location = render_tracking_url(offer.tracking_url, {**params, "click_id": click.click_id})
    # no-store: a cached redirect would hand the same click id to a second visit.
    raise web.HTTPFound(location, headers={"Cache-Control": "no-store"})
