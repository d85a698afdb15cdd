"""Every worker's copy of the offers: the compacted `hopstream.offers` topic, read whole.

Offers are small and every worker needs all of them (a click on any partition can belong to
any offer), so each worker reads every partition of the topic from the beginning, with no
consumer group, and keeps following it: a rule published with `hopstream offers apply`
applies to the next postback, without a restart. A tombstone (null value) removes an
offer; `offers apply --prune` retires offers instead (`retired: true`), so reversals of
their sales still find their rules.

The worker does not process anything before it has read the topic up to the end offsets it
saw at start (`ready`), so a restart never prices postbacks with no offers loaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import topics
from schemas.codec import decode
from schemas.messages import Offer

log = logging.getLogger(__name__)

Callback = Callable[[bytes | None, bytes | None], None]


class OffersView:
    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.offers: dict[str, Offer] = {}
        self.ready = asyncio.Event()

    def get(self, offer_id: str) -> Offer | None:
        return self.offers.get(offer_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        offer_id = key.decode()
        if value is None:
            self.offers.pop(offer_id, None)
            return
        try:
            self.offers[offer_id] = decode(Offer, value)
        except ValueError:
            # The previous definition stays in force: `offers apply` validates, so this is
            # someone else's write, and dropping a live offer would refuse real sales.
            log.exception("offer %r on %s is malformed; keeping the previous definition",
                          offer_id, topics.OFFERS.name)

    async def follow(self) -> None:
        """Read the topic to its end, set `ready`, then keep applying changes."""
        consumer = await start_reader(self.bootstrap_servers)
        try:
            await read_to_end(consumer, self.apply)
            log.info("offers loaded: %s", ", ".join(sorted(self.offers)) or "none")
            self.ready.set()
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        self.apply(record.key, record.value)
        finally:
            await consumer.stop()


async def start_reader(bootstrap_servers: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    for _ in range(100):
        partitions = consumer.partitions_for_topic(topics.OFFERS.name)
        if partitions:
            break
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.1)
    else:
        await consumer.stop()
        raise RuntimeError(f"topic {topics.OFFERS.name} not found (run `hopstream topics`)")
    tps = [TopicPartition(topics.OFFERS.name, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return consumer


async def read_to_end(consumer: AIOKafkaConsumer, apply: Callback) -> None:
    """Apply every record up to the end offsets as of now."""
    tps = list(consumer.assignment())
    ends = await consumer.end_offsets(tps)
    while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                apply(record.key, record.value)

