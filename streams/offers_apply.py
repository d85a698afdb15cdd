"""`hopstream offers apply FILE`: publish an offers file to the compacted offers topic.

Each offer is written keyed by its id (the latest definition per id wins, and compaction
keeps only that). Offers whose definition is unchanged are not written again. With
`--prune`, offers on the topic that the file no longer lists are retired: written again
with `retired: true`, not deleted, because refunds and chargebacks of their earlier sales
keep coming for months and must still find the `reverse` rule (`streams.join`). Without
it, the file only adds and updates (several files can share one topic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode, encode
from schemas.messages import Offer
from services.kafka.producer import make_producer
from streams.offers_view import read_to_end, start_reader


@dataclass
class Applied:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


async def apply_offers(settings: Settings, offers: dict[str, Offer], prune: bool = False
                       ) -> Applied:
    published = await published_offers(settings)
    result = Applied()
    producer = make_producer(settings, client_id="hopstream-offers")
    await producer.start()
    try:
        for offer_id, offer in offers.items():
            value = encode(offer)
            if published.get(offer_id) == value:
                result.unchanged.append(offer_id)
                continue
            await producer.send_and_wait(topics.OFFERS.name, key=offer_id.encode(), value=value)
            result.written.append(offer_id)
        if prune:
            for offer_id in sorted(set(published) - set(offers)):
                offer = decode(Offer, published[offer_id])
                if offer.retired:
                    continue
                offer.retired = True
                await producer.send_and_wait(topics.OFFERS.name, key=offer_id.encode(),
                                             value=encode(offer))
                result.retired.append(offer_id)
    finally:
        await producer.stop()
    return result


async def published_offers(settings: Settings) -> dict[str, bytes]:
    """Every offer on the topic now (id -> its encoded value), retired ones included."""
    current: dict[str, bytes] = {}

    def keep(key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            current.pop(key.decode(), None)
        else:
            current[key.decode()] = value

    consumer = await start_reader(settings.bootstrap_servers)
    try:
        await read_to_end(consumer, keep)
    finally:
        await consumer.stop()
    return current
