"""With the broker stopped, the receiver keeps accepting into its spool and replays later.

Uses its own broker on a fixed port (the session broker must stay up for other tests).
The embedded broker comes back empty, so this also proves the replay recreates the topics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from hopstream.settings import Settings
from services.kafka.admin import ensure_topics
from services.kafka.broker import EmbeddedBroker
from tests.integration.receiver_support import find_issue, find_postbacks, receiver
from tests.waiting import eventually

pytestmark = pytest.mark.kafka


async def postback(client: TestClient, n: int, **extra: str) -> tuple[int, dict[str, Any]]:  # type: ignore[type-arg]
    params = {"tid": f"spool{n}", "event": "purchase", "payout": f"{n}.01", **extra}
    response = await client.get("/api/v1/events", params=params)
    return response.status, await response.json()


def crash(broker: EmbeddedBroker) -> None:
    """The broker dies at once (a graceful stop takes seconds and proves nothing more)."""
    assert broker.proc is not None
    broker.proc.kill()
    broker.proc.wait()
    broker.stop()


async def readiness(client: TestClient) -> tuple[int, dict[str, Any]]:  # type: ignore[type-arg]
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_broker_outage_is_spooled_then_replayed(settings: Settings, tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        await _outage_scenario(broker, settings, tmp_path)
    finally:
        crash(broker)


async def _outage_scenario(broker: EmbeddedBroker, base: Settings, tmp_path: Path) -> None:
    settings = base.replace(
        kafka_bootstrap_servers=broker.bootstrap_servers, data_dir=tmp_path,
        receiver_produce_timeout_s=1.0, spool_max_bytes=256 * 1024,
    )
    await ensure_topics(settings)
    async with receiver(settings) as client:
        status, direct = await postback(client, 0)
        assert status == 200 and "spooled" not in direct

        crash(broker)
        answers = await asyncio.gather(*(postback(client, n) for n in range(1, 21)))
        assert all(status == 200 and a["spooled"] is True for status, a in answers), answers
        spooled_ids = {a["postback_id"] for _, a in answers}
        status, refused = await postback(client, 99, payout="ten")
        assert status == 400  # refusals are recorded through the spool too
        click = await client.get("/c/keto", allow_redirects=False)
        assert click.status == 302

        status, ready = await readiness(client)
        assert status == 200 and ready["broker"] == "unreachable"
        assert ready["spool_records"] == 22

        # Fill the spool: then the sender is told to come back later, and we are not ready.
        big = {"pad": "x" * 30_000}
        for n in range(100, 120):
            response = await client.post("/api/v1/events", data={"tid": f"big{n}",
                                                                 "event": "purchase", **big})
            if response.status == 503:
                break
            assert (await response.json())["spooled"] is True
        assert response.status == 503
        assert response.headers["Retry-After"].isdigit()
        assert (await response.json())["reason"] == "unavailable"
        assert (await readiness(client))[0] == 503

        broker.start()  # same port, empty: the replay must recreate the topics

        async def drained() -> bool:
            status, ready = await readiness(client)
            return status == 200 and ready["broker"] == "up" and ready["spool_records"] == 0
        await eventually(drained, within=60, what="spool replayed and broker up")
        found = await find_postbacks(settings, spooled_ids, within=60)
        assert {p.click_id for p in found.values()} == {f"spool{n}" for n in range(1, 21)}
        assert found[next(iter(spooled_ids))].payout is not None
        issue = await find_issue(settings, refused["postback_id"])
        assert issue.reason == "invalid" and issue.click_id == "spool99"
        status, after = await postback(client, 21)
        assert status == 200 and "spooled" not in after

        # An outage across a restart of the receiver: the journal outlives the process.
        crash(broker)
        status, kept = await postback(client, 22)
        assert status == 200 and kept["spooled"] is True
    broker.start()
    async with receiver(settings):
        found = await find_postbacks(settings, {kept["postback_id"]}, within=60)
        assert found[kept["postback_id"]].click_id == "spool22"
