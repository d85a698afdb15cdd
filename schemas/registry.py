"""Which contract each topic carries, and the committed JSON Schema files derived from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from hopstream.generated import stale_files, write_files
from schemas import topics
from schemas.codec import json_schema
from schemas.messages import Click, Conversion, Offer, Postback, PostbackIssue, SinkReject

JSON_DIR = Path(__file__).with_name("json")

MESSAGE_TYPES: dict[topics.Topic, type[Any]] = {
    topics.RAW_CLICKS: Click,
    topics.RAW_POSTBACKS: Postback,
    topics.CONVERSIONS: Conversion,
    topics.POSTBACK_ISSUES: PostbackIssue,
    topics.OFFERS: Offer,
    topics.SINK_REJECTS: SinkReject,
}


def expected_schema_files() -> dict[str, bytes]:
    """File name -> the exact bytes `schemas/json/` must hold."""
    files: dict[str, bytes] = {}
    for topic, cls in MESSAGE_TYPES.items():
        schema = json_schema(cls, cls.__name__, topic.name)
        schema["x-kafka"] = {
            "topic": topic.name,
            "key": topic.key,
            "compacted": topic.compacted,
            "doc": topic.doc,
        }
        files[topic.schema] = orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"
    return files


def write_schema_files(directory: Path = JSON_DIR) -> list[Path]:
    return write_files(directory, expected_schema_files())


def stale_schema_files(directory: Path = JSON_DIR) -> list[str]:
    return stale_files(directory, expected_schema_files())
