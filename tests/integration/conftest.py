"""Fixtures of the integration tests (the session's broker and engine: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from hopstream.settings import Settings
from services.kafka.admin import ensure_topics


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A plain producer on the session's broker, the sink's topics created."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    await producer.stop()
