"""streams.produce: records partitioned as the producer's `send` would partition them."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from streams.produce import _partitioner, murmur2


def test_murmur2_is_kafkas() -> None:
    rng = random.Random(7)
    for length in range(70):
        for _ in range(50):
            data = rng.randbytes(length)
            assert murmur2(data) == aiokafka_murmur2(data), data


class Producer:
    """What `_partitioner` uses of aiokafka's producer, with its real `_partition`."""

    def __init__(self, partitioner: Any, partitions: set[int]) -> None:
        self._partitioner = partitioner
        cluster = SimpleNamespace(partitions_for_topic=lambda topic: partitions,
                                  available_partitions_for_topic=lambda topic: partitions)
        self._metadata = cluster
        self.client = SimpleNamespace(_wait_on_metadata=self._wait)

    async def _wait(self, topic: str) -> None:
        return None

    def _partition(self, topic: str, partition: int | None, key: bytes | None, value: Any,
                   serialized_key: bytes | None, serialized_value: Any) -> int:
        from aiokafka import AIOKafkaProducer

        return AIOKafkaProducer._partition(self, topic, partition, key, value,  # type: ignore[arg-type]
                                           serialized_key, serialized_value)


@pytest.mark.parametrize("partitions", [{0}, set(range(4)), set(range(12))])
async def test_keys_go_where_the_default_partitioner_sends_them(partitions: set[int]) -> None:
    producer = Producer(DefaultPartitioner(), partitions)
    choose = await _partitioner(producer, "t")
    for i in range(500):
        key = f"{i:032x}".encode()
        assert choose(key, b"v") == producer._partition("t", None, key, b"v", key, b"v")
    assert choose(None, b"v") in partitions  # no key: a random partition, as send does


async def test_a_configured_partitioner_is_used_as_is() -> None:
    producer = Producer(lambda key, all_partitions, available: all_partitions[-1], {0, 1, 2})
    choose = await _partitioner(producer, "t")
    assert choose(b"anything", b"v") == 2
