"""Driving the stream worker from tests: offers, messages in, outcomes out."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from hopstream.ids import new_id
from hopstream.offers import parse_offers
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode, encode
from schemas.messages import Click, Conversion, Postback, PostbackIssue
from services.kafka.admin import ensure_topics
from streams.offers_apply import apply_offers
from tests.processes import Process
from tests.waiting import read_topic

Outcome = Conversion | PostbackIssue


def publish_offers(settings: Settings, *offers: dict[str, Any]) -> None:
    asyncio.run(ensure_topics(settings))
    asyncio.run(apply_offers(settings, parse_offers({"offers": list(offers)})))


def offer(offer_id: str, *payouts: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"id": offer_id, "tracking_url": f"https://{offer_id}.hop.clickbank.net/?tid={{click_id}}",
            "payouts": list(payouts), **options}


def start_worker(settings: Settings, log: Path) -> Process:
    process = Process("worker", settings, log)
    try:
        process.wait_ready()
    except BaseException:
        process.stop()
        raise
    return process


def click(offer_id: str = "keto", age: timedelta = timedelta(0)) -> Click:
    return Click(click_id=new_id(), offer_id=offer_id, clicked_at=datetime.now(UTC) - age,
                 traffic_source="fb", campaign="spring", creative="c1")


def postback(click_id: str, event: str = "purchase", payout: str | None = "12.50",
             receipt: str = "P3RGBKGB", token: str = "") -> Postback:
    return Postback(postback_id=new_id(), received_at=datetime.now(UTC), click_id=click_id,
                    event=event, payout=None if payout is None else Decimal(payout),
                    receipt=receipt, currency="USD", token=token)


async def send(producer: AIOKafkaProducer, *messages: Click | Postback) -> None:
    """Send in order; clicks and postbacks keyed by click id, as the receiver does."""
    for message in messages:
        topic = topics.RAW_CLICKS if isinstance(message, Click) else topics.RAW_POSTBACKS
        await producer.send_and_wait(topic.name, key=message.click_id.encode(),
                                     value=encode(message))


async def outcomes(settings: Settings, postback_ids: list[str], within: float = 30.0
                   ) -> dict[str, list[Outcome]]:
    """Every outcome message for each postback id, waiting until each has at least one."""
    wanted = set(postback_ids)
    found: dict[str, list[Outcome]] = {}

    async def collect(topic: topics.Topic, cls: type[Any]) -> None:
        def done(records: list[Any]) -> bool:
            for record in records[len(seen):]:
                seen.append(record)
                message = decode(cls, record.value)
                if message.postback_id in wanted:
                    found.setdefault(message.postback_id, []).append(message)
            return wanted <= set(found)

        seen: list[Any] = []
        with contextlib.suppress(AssertionError):
            await read_topic(settings.bootstrap_servers, topic.name, done, within=within)

    await asyncio.gather(collect(topics.CONVERSIONS, Conversion),
                         collect(topics.POSTBACK_ISSUES, PostbackIssue))
    missing = wanted - set(found)
    assert not missing, f"no outcome within {within}s for {len(missing)} postbacks"
    return found


async def outcome(settings: Settings, postback: Postback, within: float = 30.0) -> Outcome:
    """The single outcome of one postback."""
    found = (await outcomes(settings, [postback.postback_id], within))[postback.postback_id]
    assert len({encode(o) for o in found}) == 1, f"conflicting outcomes: {found}"
    return found[0]
