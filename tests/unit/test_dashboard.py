"""services.dashboard: the page's assets and the API's clear errors (no ClickHouse needed)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from hopstream.settings import Settings
from services.dashboard.app import create_app
from services.kafka.broker import free_port


async def client() -> TestClient[object, object]:
    # Nothing listens on this port: reads fail as they would with ClickHouse down.
    settings = Settings.from_env({"HOPSTREAM_CLICKHOUSE_PORT": str(free_port())})
    test_client: TestClient[object, object] = TestClient(TestServer(create_app(settings)))
    await test_client.start_server()
    return test_client


async def test_page_and_vendored_chart_library_are_served() -> None:
    c = await client()
    try:
        page = await c.get("/")
        assert page.status == 200 and 'src="/static/uPlot.iife.min.js"' in await page.text()
        library = await c.get("/static/uPlot.iife.min.js")
        assert library.status == 200 and "uPlot" in (await library.text())[:200]
        assert (await c.get("/static/uPlot.LICENSE")).status == 200
    finally:
        await c.close()


async def test_bad_ranges_and_clickhouse_outages_are_named() -> None:
    c = await client()
    try:
        bad = await c.get("/api/stats", params={"from": "yesterday"})
        assert bad.status == 400 and "from: 'yesterday'" in (await bad.json())["detail"]
        bad = await c.get("/api/stats", params={"minutes": "-5"})
        assert bad.status == 400 and "minutes" in (await bad.json())["detail"]
        down = await c.get("/api/stats")
        assert down.status == 502 and "unreachable" in (await down.json())["detail"]
    finally:
        await c.close()
