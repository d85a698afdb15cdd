"""Publishing from request handlers: to the broker, or to the spool while it is away.

`publish` returns only once the message is durable: acknowledged by the broker (acks=all)
or, when the broker does not answer within HOPSTREAM_RECEIVER_PRODUCE_TIMEOUT_S, fsync'd
to the spool. The receiver answers 200 after that and not before, so nothing it
acknowledged can be lost. It raises `SpoolFull` when neither can take the message.

After one failed send the publisher stops trying the broker per request (each attempt
would cost the full timeout) and spools directly until the replayer has brought the spool
back to empty; then requests go to the broker again. A send that timed out may still
reach the broker later, and its spooled copy then duplicates it: replays may duplicate,
never lose, and every consumer downstream is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.codec import encode
from schemas.topics import Topic
from services.receiver.metrics import ReceiverMetrics
from services.receiver.spool import Spool, SpoolFull

log = logging.getLogger(__name__)

__all__ = ["Publisher", "SpoolFull"]


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, spool: Spool, metrics: ReceiverMetrics,
                 produce_timeout_s: float) -> None:
        self.producer = producer
        self.spool = spool
        self.metrics = metrics
        self.produce_timeout_s = produce_timeout_s
        # Records left from an earlier run go out first: until the replayer has sent them,
        # new messages are spooled behind them, so the broker sees journal order.
        self.broker_up = not spool.pending_records
        # Set whenever the replayer has something to do (a record spooled, a shutdown).
        self.wake = asyncio.Event()
        if spool.pending_records:
            self.wake.set()
        self.update_gauges()

    @property
    def ready(self) -> bool:
        """Writes can be taken: the broker is up or the spool has room."""
        return self.broker_up or self.spool.has_room(64 * 1024)

    async def publish(self, topic: Topic, key: str, message: Any) -> bool:
        """Make `message` durable; True if it went to the spool rather than the broker."""
        value, key_bytes = encode(message), key.encode()
        if self.broker_up:
            try:
                await self.send(topic.name, key_bytes, value)
                return False
            except (KafkaError, TimeoutError) as exc:
                self.mark_down(exc)
        await self.spool.append(topic.name, key_bytes, value)
        self.metrics.spooled.labels(topic.name).inc()
        self.update_gauges()
        self.wake.set()
        return True

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        """One message to the broker, acknowledged within the produce timeout or raising."""
        started = time.perf_counter()
        async with asyncio.timeout(self.produce_timeout_s):  # lighter than wait_for per call
            await self.producer.send_and_wait(topic, value=value, key=key)
        self.metrics.produced(topic, time.perf_counter() - started)

    def mark_down(self, exc: BaseException) -> None:
        if self.broker_up:
            log.error("broker did not acknowledge within %.1fs (%s): spooling to %s until it "
                      "is back", self.produce_timeout_s, type(exc).__name__ or exc,
                      self.spool.path)
        self.broker_up = False
        self.update_gauges()
        self.wake.set()

    def mark_up(self) -> None:
        if not self.broker_up:
            log.info("broker is back and the spool is replayed: publishing directly again")
        self.broker_up = True
        self.update_gauges()

    def update_gauges(self) -> None:
        self.metrics.broker_up.set(1 if self.broker_up else 0)
        self.metrics.spool_records.set(self.spool.pending_records)
        self.metrics.spool_bytes.set(self.spool.size)
