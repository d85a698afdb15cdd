"""Waiting on conditions with a deadline (never sleeping and hoping)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T] | T], *, within: float = 30.0, every: float = 0.1,
    what: str = "condition",
) -> T:
    """Call `probe` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        result = probe()
        last = await result if asyncio.iscoroutine(result) else result
        if last:
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(every)
    raise AssertionError(f"{what} not reached within {within}s (last value: {last!r})")


async def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool], *, within: float = 30.0
) -> list[Any]:
    """All records of `topic` from the beginning, polled until `until(records)` holds."""
    async with _from_beginning(bootstrap, topic) as consumer:
        records: list[Any] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
            if until(records):
                return records
        raise AssertionError(
            f"{topic}: condition not met within {within}s; {len(records)} records read"
        )


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record `topic` holds now: read until a fetch brings nothing (call it once
    what it should hold was written, e.g. after waiting on what followed it)."""
    async with _from_beginning(bootstrap, topic) as consumer:
        records: list[Any] = []
        while batch := await consumer.getmany(timeout_ms=1000):
            for messages in batch.values():
                records.extend(messages)
        return records


@asynccontextmanager
async def _from_beginning(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(100):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        # The topic may not exist yet: refresh the client's view of the cluster (the
        # consumer itself has no public call for that while it subscribes to nothing).
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.05)
    raise AssertionError(f"topic {topic} has no partitions")
