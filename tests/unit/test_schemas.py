"""schemas: the committed JSON Schemas, the topic registry and the wire codec."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from schemas import topics
from schemas.codec import DECIMAL_PATTERN, DecodeError, decode, encode, to_dict
from schemas.messages import Click, Conversion, Offer, Postback, PostbackIssue
from schemas.registry import JSON_DIR, MESSAGE_TYPES, expected_schema_files

from . import samples

MESSAGES = [
    samples.click(),
    samples.click(traffic_source="", campaign="", creative="", params={}, query_string=""),
    samples.postback(),
    samples.postback(payout=None, receipt="", currency=""),
    samples.postback(payout=Decimal("-37.00"), event="refund"),
    samples.conversion(),
    samples.issue(),
    samples.offer(),
    samples.offer(postback_token=None, payouts=[]),
]


def _id(message: Any) -> str:
    return type(message).__name__


def _format_checker() -> FormatChecker:
    """Draft 2020-12 format checking, with a strict RFC 3339 date-time check.

    jsonschema checks `date-time` only when rfc3339-validator is installed; register our own
    so the test never silently skips it.
    """
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            return False
        return datetime.fromisoformat(value).tzinfo is not None

    return checker


def _validator(cls: type[Any]) -> Draft202012Validator:
    topic = next(t for t, c in MESSAGE_TYPES.items() if c is cls)
    schema = orjson.loads((JSON_DIR / topic.schema).read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


# --- (a) the contract test ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(expected_schema_files()))
def test_committed_schema_matches_the_dataclasses(name: str) -> None:
    path = JSON_DIR / name
    expected = expected_schema_files()[name]
    assert path.exists(), f"schemas/json/{name} is missing: run `hopstream schemas --write`"
    assert path.read_bytes() == expected, (
        f"schemas/json/{name} is stale (schemas/messages.py or schemas/topics.py changed): "
        "run `hopstream schemas --write` and commit the result"
    )


def test_no_stray_schema_files() -> None:
    committed = {p.name for p in JSON_DIR.glob("*.json")}
    extra = committed - set(expected_schema_files())
    assert not extra, f"schemas/json has files no topic uses: {sorted(extra)}; delete them"


# --- (b) topics ------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", topics.ALL_TOPICS, ids=lambda t: t.name)
def test_every_topic_has_a_schema_file_and_a_message_type(topic: topics.Topic) -> None:
    assert (JSON_DIR / topic.schema).is_file()
    cls = MESSAGE_TYPES[topic]
    assert topic.key in {f.name for f in dataclasses.fields(cls)}
    x_kafka = orjson.loads((JSON_DIR / topic.schema).read_bytes())["x-kafka"]
    assert (x_kafka["topic"], x_kafka["key"]) == (topic.name, topic.key)


def test_message_types_cover_exactly_the_topics() -> None:
    assert set(MESSAGE_TYPES) == set(topics.ALL_TOPICS)


def test_topic_names_and_schema_files_are_unique() -> None:
    assert len({t.name for t in topics.ALL_TOPICS}) == len(topics.ALL_TOPICS)
    assert len({t.schema for t in topics.ALL_TOPICS}) == len(topics.ALL_TOPICS)


def test_raw_clicks_and_postbacks_are_co_keyed_by_click_id() -> None:
    assert topics.RAW_CLICKS.key == topics.RAW_POSTBACKS.key == "click_id"


def test_offers_topic_is_compacted() -> None:
    assert topics.OFFERS.compacted is True


# --- (c) encode -> validate -> decode --------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES, ids=_id)
def test_encoded_message_validates_against_committed_schema(message: Any) -> None:
    errors = [e.message for e in _validator(type(message)).iter_errors(orjson.loads(
        encode(message)))]
    assert errors == []


@pytest.mark.parametrize("message", MESSAGES, ids=_id)
def test_round_trip(message: Any) -> None:
    assert decode(type(message), encode(message)) == message


@pytest.mark.parametrize("message", MESSAGES, ids=_id)
def test_every_field_is_written(message: Any) -> None:
    assert set(to_dict(message)) == {f.name for f in dataclasses.fields(message)}


def test_schema_format_check_is_active() -> None:
    data = to_dict(samples.click())
    data["clicked_at"] = "2024-05-01 12:00"
    assert not _validator(Click).is_valid(data)


def test_schema_refuses_float_money() -> None:
    data = to_dict(samples.conversion())
    data["payout"] = 12.5
    assert not _validator(Conversion).is_valid(data)


def test_decode_accepts_a_dict() -> None:
    message = samples.conversion()
    assert decode(Conversion, to_dict(message)) == message


# --- (d) wire representation -------------------------------------------------------------


@pytest.mark.parametrize("amount", ["12.50", "0.000001", "-37.00", "1000000", "0"])
def test_money_is_a_string_kept_exact(amount: str) -> None:
    data = to_dict(samples.conversion(payout=Decimal(amount)))
    assert data["payout"] == amount
    assert re.fullmatch(DECIMAL_PATTERN, data["payout"])


def test_missing_payout_is_null() -> None:
    assert to_dict(samples.postback(payout=None))["payout"] is None


def test_datetimes_are_utc_with_z() -> None:
    data = to_dict(samples.conversion())
    assert data["converted_at"] == "2024-05-03T08:30:15.456000Z"
    assert data["clicked_at"] == "2024-05-01T12:00:00.123000Z"


def test_decoded_datetimes_are_utc() -> None:
    data = to_dict(samples.click())
    data["clicked_at"] = "2024-05-01T14:00:00.123+02:00"
    clicked_at = decode(Click, data).clicked_at
    assert clicked_at == samples.CLICKED_AT
    assert clicked_at.utcoffset() == timedelta(0)


def test_non_utc_datetime_is_written_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    data = to_dict(samples.click(clicked_at=datetime(2024, 5, 1, 14, 0, tzinfo=paris)))
    assert data["clicked_at"] == "2024-05-01T12:00:00Z"


@pytest.mark.parametrize("amount", [Decimal("1E+3"), Decimal("0.0000001")])
def test_money_never_uses_exponent_notation(amount: Decimal) -> None:
    payout = to_dict(samples.conversion(payout=amount))["payout"]
    assert re.fullmatch(DECIMAL_PATTERN, payout), payout


# --- (e) decode refuses what breaks the contract ----------------------------------------------


def _broken(message: Any, **changes: Any) -> dict[str, Any]:
    data = to_dict(message)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("cls", "data", "where"),
    [
        (Postback, _broken(samples.postback(), payout=12.5), "Postback.payout"),
        (Postback, _broken(samples.postback(), payout=True), "Postback.payout"),
        (Postback, _broken(samples.postback(), payout="12,50"), "Postback.payout"),
        (Conversion, _broken(samples.conversion(), payout="NaN"), "Conversion.payout"),
        (Conversion, _broken(samples.conversion(), payout=None), "Conversion.payout"),
        (Postback, _broken(samples.postback(), received_at="2024-05-03T08:30:15"),
         "Postback.received_at"),
        (Click, _broken(samples.click(), clicked_at="yesterday"), "Click.clicked_at"),
        (Click, _broken(samples.click(), clicked_at=1714564800), "Click.clicked_at"),
        (Click, _broken(samples.click(), click_id=123), "Click.click_id"),
        (Click, _broken(samples.click(), params=["a", "b"]), "Click.params"),
        (Click, _broken(samples.click(), schema_version=True), "Click.schema_version"),
        (Click, _broken(samples.click(), schema_version="1"), "Click.schema_version"),
        (PostbackIssue, _broken(samples.issue(), reason=None), "PostbackIssue.reason"),
        (Offer, _broken(samples.offer(), payouts={"event": "x"}), "Offer.payouts"),
        (Offer, _broken(samples.offer(), payouts=[{"event": 1, "payout": "postback"}]),
         "PayoutRule.event"),
    ],
)
def test_decode_refuses_wrong_types_naming_the_field(
    cls: type[Any], data: dict[str, Any], where: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(where)):
        decode(cls, orjson.dumps(data))


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"click"', b"null", b"42"])
def test_decode_refuses_a_non_object(raw: bytes) -> None:
    with pytest.raises(DecodeError, match="Click: expected a JSON object"):
        decode(Click, raw)


def test_decode_refuses_invalid_json() -> None:
    with pytest.raises(DecodeError, match="Click: not JSON"):
        decode(Click, b"{not json")


def test_decode_refuses_a_missing_required_field() -> None:
    data = to_dict(samples.click())
    del data["offer_id"]
    with pytest.raises(DecodeError, match=r"Click.*offer_id"):
        decode(Click, data)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, ValueError)


def test_decode_refuses_non_string_params() -> None:
    data = _broken(samples.click(), params={"a": None})
    with pytest.raises(DecodeError, match=re.escape("Click.params")):
        decode(Click, data)


# --- (f) forward compatibility ----------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES, ids=_id)
def test_decode_ignores_unknown_fields(message: Any) -> None:
    data = to_dict(message)
    data["added_in_v2"] = {"nested": [1, 2.5, None]}
    assert decode(type(message), orjson.dumps(data)) == message


def test_decode_fills_defaults_for_absent_optional_fields() -> None:
    data = to_dict(samples.click())
    for name in ("traffic_source", "params", "query_string", "schema_version"):
        del data[name]
    click = decode(Click, data)
    assert (click.traffic_source, click.params, click.query_string, click.schema_version) == (
        "", {}, "", 1)



@pytest.mark.parametrize("payout", ["1e3", "1E+3", " 5", "5 ", "1_0", "12.", ".5", "+5",
                                    "12,50", "NaN", "Infinity", "0x10", "12.5\n"])
def test_money_must_match_the_contracts_decimal_pattern(payout: str) -> None:
    """Python's Decimal() takes most of these; the wire contract (DECIMAL_PATTERN) does
    not, and neither does decode: an amount is never guessed."""
    data = to_dict(samples.postback())
    data["payout"] = payout
    with pytest.raises(DecodeError,
                       match=re.escape("Postback.payout: not a decimal string like 12.34")):
        decode(Postback, orjson.dumps(data))


@pytest.mark.parametrize(("payout", "value"), [("0", "0"), ("-37.00", "-37.00"),
                                               ("12", "12"), (12, "12")])
def test_decimal_strings_and_integers_are_exact(payout: object, value: str) -> None:
    data = to_dict(samples.postback())
    data["payout"] = payout
    assert decode(Postback, orjson.dumps(data)).payout == Decimal(value)
