"""`hopstream dashboard`: the live dashboard page and the JSON it refreshes from.

Routes: `/` the page, `/static/...` its script, styles and the vendored charting library
(uPlot; nothing is fetched from the internet at run time), `/api/stats` one snapshot
(`?minutes=N` for the last N minutes, default 60, or `?from=ISO-8601` for everything since
then), `/healthz`. State lives under typed AppKeys; the HTTP client session to ClickHouse
is opened and closed by `cleanup_ctx`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from hopstream.readiness import mark_ready
from hopstream.serving import serve_until_signal
from hopstream.settings import Settings
from services.dashboard.clickhouse import ClickHouseError, ClickHouseReader, endpoint
from services.dashboard.stats import Stats, default_since

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
MAX_MINUTES = 60 * 24 * 31
CLICKHOUSE_TIMEOUT_S = 20.0

SETTINGS = web.AppKey("settings", Settings)
STATS = web.AppKey("stats", Stats)


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_clickhouse_ctx)
    app.router.add_get("/", handle_index)
    app.router.add_get("/api/stats", handle_stats)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_static("/static", STATIC)
    return app


async def _clickhouse_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url, auth = endpoint(settings)
    timeout = aiohttp.ClientTimeout(total=CLICKHOUSE_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[STATS] = Stats(ClickHouseReader(session, url, auth), settings.clickhouse_database)
        yield


async def handle_index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def handle_healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


def error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "detail": message}, status=status)


def since_of(request: web.Request) -> datetime | str:
    """The range's start from `from` or `minutes`, or a message naming the problem."""
    if "from" in request.query:
        text = request.query["from"].strip().replace(" ", "+")  # "+" decoded as a space
        try:
            since = datetime.fromisoformat(text)
        except ValueError:
            return f"from: {text!r} is not an ISO 8601 time (e.g. 2026-11-26T10:00:00Z)"
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    raw = request.query.get("minutes", "60")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MINUTES:
        return f"minutes: expected a whole number from 1 to {MAX_MINUTES}, got {raw!r}"
    return default_since(int(raw))


async def handle_stats(request: web.Request) -> web.StreamResponse:
    since = since_of(request)
    if isinstance(since, str):
        return error(400, since)
    try:
        snapshot = await request.app[STATS].snapshot(since)
    except ClickHouseError as exc:
        log.warning("stats: %s", exc)
        return error(502, str(exc))
    snapshot["refresh_s"] = request.app[SETTINGS].dashboard_refresh_s
    return web.json_response(snapshot, headers={"Cache-Control": "no-store"})


async def run_dashboard(settings: Settings) -> None:
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.dashboard_host, settings.dashboard_port).start()
    log.info("dashboard on http://%s:%d/", settings.dashboard_host, settings.dashboard_port)
    mark_ready(settings, "dashboard")
    await serve_until_signal(runner)
