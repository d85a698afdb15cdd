"""Every Kafka topic hopstream reads or writes: its name, key and schema, in one place.

Keys decide partitions, and partitions decide which worker sees what:
- raw clicks and raw postbacks are both keyed by click_id and have the same partition
  count, so a postback lands on the same worker partition as its click (the table join
  needs that co-partitioning);
- conversions and postback issues keep the click_id key so that everything about one click
  stays ordered on one partition downstream too;
- offers are keyed by offer id on a compacted topic: the latest definition wins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str  # which message field the key is made of
    schema: str  # file under schemas/json/
    compacted: bool = False
    doc: str = ""


RAW_CLICKS = Topic(
    "hopstream.clicks.raw", "click_id", "click.json",
    doc="Every click the receiver redirected, as received.",
)
RAW_POSTBACKS = Topic(
    "hopstream.postbacks.raw", "click_id", "postback.json",
    doc="Every postback the receiver accepted, with all its raw parameters.",
)
CONVERSIONS = Topic(
    "hopstream.conversions", "click_id", "conversion.json",
    doc="Postbacks joined to their click and priced: one message per credited event.",
)
POSTBACK_ISSUES = Topic(
    "hopstream.postback-issues", "click_id", "postback_issue.json",
    doc="Postbacks that did not become a conversion, each with a reason code.",
)
OFFERS = Topic(
    "hopstream.offers", "id", "offer.json", compacted=True,
    doc="Offer definitions and payout rules; compacted, latest per offer id wins.",
)

SINK_REJECTS = Topic(
    "hopstream.sink-rejects", "key", "sink_reject.json",
    doc="Dead letters of the sink: messages that could not become a ClickHouse row, with the "
    "error; keyed like the source message. Also in the sink_rejects table.",
)

ALL_TOPICS: tuple[Topic, ...] = (
    RAW_CLICKS, RAW_POSTBACKS, CONVERSIONS, POSTBACK_ISSUES, OFFERS, SINK_REJECTS
)
