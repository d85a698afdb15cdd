"""Topic creation at start: every hopstream topic exists, with the right partitions.

Run by `hopstream dev` before it starts the processes, by each process at start (cheap and
idempotent) and by `hopstream topics`. Existing topics are checked, not altered: the join
needs raw clicks and raw postbacks co-partitioned, and a mismatch there would silently
lose joins, so it stops the process with an explanation instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from hopstream.settings import Settings
from schemas import topics

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36


class TopicError(RuntimeError):
    pass


async def ensure_topics(settings: Settings, connect_within_s: float = 30.0) -> dict[str, int]:
    """Create missing topics; return {topic: partition count} for all of them."""
    admin = await _connected_admin(settings, connect_within_s)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics.ALL_TOPICS if t.name not in existing]
        if missing:
            response = await admin.create_topics([_new_topic(t, settings) for t in missing])
            for error in getattr(response, "topic_errors", []):
                name, code = error[0], error[1]
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise TopicError(f"creating topic {name} failed with Kafka error {code}")
            log.info("created topics: %s", ", ".join(t.name for t in missing))
        counts = await _partition_counts(admin, [t.name for t in topics.ALL_TOPICS])
    finally:
        await admin.close()
    joined = (topics.RAW_CLICKS.name, topics.RAW_POSTBACKS.name)
    if counts[joined[0]] != counts[joined[1]]:
        raise TopicError(
            f"{joined[0]} has {counts[joined[0]]} partitions and {joined[1]} has "
            f"{counts[joined[1]]}: they must be equal, the worker joins them by partition"
        )
    return counts


def _new_topic(topic: topics.Topic, settings: Settings) -> NewTopic:
    configs = {"cleanup.policy": "compact"} if topic.compacted else {}
    return NewTopic(
        name=topic.name,
        num_partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        topic_configs=configs,
    )


async def _connected_admin(settings: Settings, within_s: float) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise TopicError(f"no Kafka at {settings.bootstrap_servers}") from None
            await asyncio.sleep(0.5)


async def _partition_counts(admin: Any, names: list[str]) -> dict[str, int]:
    # Freshly created topics can take a moment to show up in metadata.
    for _ in range(50):
        described = await admin.describe_topics(names)
        counts = {d["topic"]: len(d["partitions"]) for d in described if d.get("partitions")}
        if all(counts.get(n) for n in names):
            return counts
        await asyncio.sleep(0.1)
    raise TopicError(f"topics not visible after creation: {sorted(set(names) - set(counts))}")
