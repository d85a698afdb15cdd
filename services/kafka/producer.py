"""The one long-lived Kafka producer of a process, configured from the settings.

acks=all always: a message the receiver acknowledged to ClickBank must survive a broker
failover. Idempotence is a setting because the embedded broker refuses it; production
(Apache Kafka) turns it on so that producer retries cannot write duplicates.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from hopstream.settings import Settings


def make_producer(settings: Settings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        # A few ms of lingering lets concurrent requests share one produce request: measured,
        # 5 ms instead of 2 took about 7% off a postback's CPU time under load.
        linger_ms=settings.receiver_linger_ms,
        request_timeout_ms=15_000,
    )
