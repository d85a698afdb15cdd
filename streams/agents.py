"""The worker's agents: keep clicks in a table, join each postback to its click.

Raw clicks and raw postbacks are co-partitioned by click_id, so the clicks table partition
that can answer a postback lives on the same worker as the postback. A postback whose click
has not been seen yet waits in the `pending_postbacks` table and is completed by the click
agent when the click arrives (the click and postback topics are consumed independently, so
"postback first" happens even when the click was sent first).

Faust acks an event even when the agent raises, which would lose it: every event is
therefore handled inside a try block, and a failure becomes a `processing_error` issue on
the postback issues topic (durable, visible in ClickHouse) instead of an exception.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson

from hopstream.ids import new_id
from hopstream.settings import Settings
from schemas import topics
from schemas.codec import decode, encode
from schemas.messages import Click, Conversion, Postback, PostbackIssue
from streams.join import issue_for, join

log = logging.getLogger(__name__)


def register(app: Any, settings: Settings) -> None:
    def topic(t: topics.Topic) -> Any:
        return app.topic(t.name, key_type=bytes, value_type=bytes, partitions=settings.partitions)

    clicks_topic = topic(topics.RAW_CLICKS)
    postbacks_topic = topic(topics.RAW_POSTBACKS)
    conversions_topic = topic(topics.CONVERSIONS)
    issues_topic = topic(topics.POSTBACK_ISSUES)
    clicks = app.Table(
        "clicks", default=None, partitions=settings.partitions, key_type=bytes, value_type=bytes
    )
    pending = app.Table(
        "pending_postbacks", default=None, partitions=settings.partitions,
        key_type=bytes, value_type=bytes,
    )

    async def emit(outcome: Conversion | PostbackIssue) -> None:
        target = conversions_topic if isinstance(outcome, Conversion) else issues_topic
        await target.send(key=outcome.click_id.encode(), value=encode(outcome))

    async def processing_error(raw: bytes, exc: Exception) -> None:
        log.exception("processing failed; recorded as processing_error")
        try:
            postback = decode(Postback, raw)
            issue = issue_for(postback, "processing_error", f"{type(exc).__name__}: {exc}")
        except Exception:  # not even a Postback: keep the bytes
            issue = _undecodable(raw, exc)
        await issues_topic.send(key=issue.click_id.encode() or None, value=encode(issue))

    @app.agent(clicks_topic, name="clicks")  # type: ignore[untyped-decorator]
    async def on_clicks(stream: AsyncIterator[Any]) -> None:
        async for key, value in stream.items():  # type: ignore[attr-defined]
            try:
                click = decode(Click, value)
                clicks[key] = value
                waiting = pending.get(key)
                if waiting is not None:
                    for raw in orjson.loads(waiting):
                        await emit(join(click, decode(Postback, raw)))
                    del pending[key]
            except Exception:
                # A malformed click cannot be joined to anything; the raw topic keeps it.
                log.exception("cannot process click with key %r", key)

    @app.agent(postbacks_topic, name="postbacks")  # type: ignore[untyped-decorator]
    async def on_postbacks(stream: AsyncIterator[Any]) -> None:
        async for key, value in stream.items():  # type: ignore[attr-defined]
            try:
                postback = decode(Postback, value)
                click_raw = clicks.get(key)
                if click_raw is None:
                    waiting = orjson.loads(pending.get(key) or b"[]")
                    waiting.append(orjson.loads(value))
                    pending[key] = orjson.dumps(waiting)
                    continue
                await emit(join(decode(Click, click_raw), postback))
            except Exception as exc:
                await processing_error(value, exc)


def _undecodable(raw: bytes, exc: Exception) -> PostbackIssue:
    return PostbackIssue(
        postback_id=new_id(),
        reason="processing_error",
        detail=f"undecodable postback message: {type(exc).__name__}: {exc}",
        received_at=datetime.now(UTC),
        raw=raw.decode("utf-8", errors="replace"),
    )
