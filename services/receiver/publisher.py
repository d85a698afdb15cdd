"""Publishing messages to Kafka from request handlers, through the process's one producer.

`publish` returns only once the broker acknowledged the message (acks=all): the receiver
answers ClickBank 200 after that and not before, so an acknowledged postback is durable.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import encode
from schemas.topics import Topic


class Publisher:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, topic: Topic, key: str, message: Any) -> None:
        await self._producer.send_and_wait(topic.name, value=encode(message), key=key.encode())
