"""The codec's generated encoders and decoders behave exactly as the generic codec did.

`codec_reference` is the codec as it was before (verbatim). For every message class of
`schemas.messages`: random and hand-built messages encode to the same bytes and decode to
the same values, and invalid input raises the same error with the same text. A last group
checks the fast path is really taken, so the equivalence is not the fallback's alone.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
import types
import typing
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from schemas import codec, messages
from schemas.codec import DecodeError, decode, encode
from schemas.decoders import compile_decoder
from schemas.encoders import compile_encoder
from schemas.messages import Click, Conversion, Offer, PayoutRule, Postback, PostbackIssue

from . import samples
from .codec_reference import reference_decode, reference_encode

MESSAGE_CLASSES = [
    cls for _, cls in inspect.getmembers(messages, inspect.isclass)
    if dataclasses.is_dataclass(cls) and cls.__module__ == messages.__name__
]
SEED = 20240501

# --- random messages, typed by the dataclass fields ---------------------------------------

TEXTS = ["", "keto", "spring sale", "é&=", "🆗", 'quote " back \\ slash', "tab\tnl\n\x00",
         "+00:00", "2024-05-01T12:00:00Z", "12.50", "0190f1a2b3c47d8e9fa0b1c2d3e4f5a6",
         "x" * 300]
DECIMALS = ["0", "-0", "12.50", "-37.00", "1E+3", "1e-7", "0.0000001", "-1.5E+2", "5E-10",
            "123456789012345678901234567890.123456789", "0.000000000000000000001", "100"]
ZONES = [UTC, None, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)),
         timezone(timedelta(0), "GMT"), timezone(timedelta(hours=23, minutes=59)),
         ZoneInfo("Europe/Paris"), ZoneInfo("UTC"), ZoneInfo("America/New_York")]


def _random_value(tp: Any, rng: random.Random) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        inner = next(a for a in args if a is not type(None))
        return None if rng.random() < 0.3 else _random_value(inner, rng)
    if tp is str:
        return rng.choice(TEXTS) if rng.random() < 0.7 else "".join(
            chr(rng.choice([rng.randrange(32, 127), rng.randrange(160, 0x2FFF)]))
            for _ in range(rng.randrange(0, 20)))
    if tp is bool:
        return rng.random() < 0.5
    if tp is int:
        return rng.choice([0, 1, -1, 60, 2**62, -(2**40), rng.randrange(-1000, 1000)])
    if tp is Decimal:
        if rng.random() < 0.5:
            return Decimal(rng.choice(DECIMALS))
        return Decimal(rng.randrange(-10**12, 10**12)).scaleb(-rng.randrange(0, 9))
    if tp is datetime:
        # Mostly ordinary times; a few at the ends of the range, where a zone can overflow.
        value = datetime(rng.randrange(1970, 2100), rng.randrange(1, 13), rng.randrange(1, 29),
                         rng.randrange(24), rng.randrange(60), rng.randrange(60),
                         rng.choice([0, 0, 1, 123000, 999999, rng.randrange(10**6)]))
        ends = [datetime(1, 1, 1), datetime(999, 5, 5),
                datetime(9999, 12, 31, 23, 59, 59, 999999)]
        value = rng.choice([value] * 10 + ends)
        return value.replace(tzinfo=rng.choice([UTC, UTC, UTC, *ZONES]))
    if origin is dict:
        return {_random_value(str, rng): _random_value(args[1], rng)
                for _ in range(rng.randrange(0, 5))}
    if origin is list:
        return [_random_value(args[0], rng) for _ in range(rng.randrange(0, 4))]
    if dataclasses.is_dataclass(tp):
        return _random_message(tp, rng)  # type: ignore[arg-type]
    raise TypeError(f"no random value for {tp!r}")


def _random_message(cls: type[Any], rng: random.Random) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _random_value(hints[f.name], rng) for f in dataclasses.fields(cls)})


def _random_messages(cls: type[Any], n: int = 150) -> Iterator[Any]:
    rng = random.Random(f"{SEED}-{cls.__name__}")
    return (_random_message(cls, rng) for _ in range(n))


HAND_BUILT = [
    samples.click(),
    samples.click(traffic_source="", campaign="", creative="", params={}, query_string=""),
    samples.click(clicked_at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))),
    samples.click(clicked_at=datetime(2024, 5, 1, 12, 0)),  # naive: UTC on the wire
    samples.click(clicked_at=datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC)),
    samples.postback(),
    samples.postback(payout=None, vendor_earnings=Decimal("1E+3")),
    samples.postback(payout=Decimal("-37.00"), event="refund"),
    samples.conversion(),
    samples.conversion(payout=Decimal("0.0000001"), clicked_at=datetime(1, 1, 1, tzinfo=UTC)),
    # Out of range once in UTC: both codecs refuse them, with the same error.
    samples.click(clicked_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2)))),
    samples.conversion(converted_at=datetime(9999, 12, 31, 23, tzinfo=ZoneInfo("Etc/GMT+5"))),
    samples.issue(),
    samples.offer(),
    samples.offer(postback_token=None, payouts=[]),
]


def _messages(cls: type[Any]) -> list[Any]:
    return [m for m in HAND_BUILT if type(m) is cls] + list(_random_messages(cls))


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What a call gave: its value's repr (Decimal exponents, time zones and types
    included) or its exception's type and text."""
    try:
        value = fn(*args)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    return ("returned", value if isinstance(value, bytes) else repr(value))


def _out_of_range(message: Any) -> bool:
    """A time that a zone pushes past year 1 or 9999: encode refuses it (both codecs)."""
    try:
        reference_encode(message)
    except TypeError:
        return True
    return False


def _wire(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(reference_encode(message))
    return data


# --- valid messages -------------------------------------------------------------------------


def test_every_message_class_is_covered() -> None:
    assert {Click, Postback, Conversion, PostbackIssue, Offer, PayoutRule} <= set(
        MESSAGE_CLASSES)
    assert len(MESSAGE_CLASSES) == 7


def test_random_messages_reach_the_tricky_values() -> None:
    # The comparisons below are only as good as what they are given.
    times = [m.clicked_at for m in _random_messages(Click)]
    assert any(t.tzinfo is None for t in times)
    assert any(t.tzinfo not in (None, UTC) and t.utcoffset() for t in times)
    assert any(t.microsecond == 0 for t in times) and any(t.microsecond for t in times)
    assert any(_out_of_range(m) for m in _random_messages(Click))
    payouts = [m.payout for m in _random_messages(Postback)]
    assert None in payouts
    assert any(p is not None and "E" in str(p) for p in payouts)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_encode_writes_the_reference_bytes(cls: type[Any]) -> None:
    for message in _messages(cls):
        assert _outcome(encode, message) == _outcome(reference_encode, message), message


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_decode_gives_the_reference_value(cls: type[Any]) -> None:
    for message in _messages(cls):
        if _out_of_range(message):
            continue
        wire = reference_encode(message)
        for data in (wire, wire.decode(), orjson.loads(wire)):
            assert _outcome(decode, cls, data) == _outcome(reference_decode, cls, data), data
        decoded = decode(cls, wire)
        assert decoded == reference_decode(cls, wire)
        assert encode(decoded) == wire  # and the round trip is exact


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_decode_fills_defaults_as_the_reference(cls: type[Any]) -> None:
    optional = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING]
    for message in _messages(cls)[:20]:
        if _out_of_range(message):
            continue
        data = {k: v for k, v in _wire(message).items() if k not in optional}
        assert _outcome(decode, cls, data) == _outcome(reference_decode, cls, data), data
    factories = [f.name for f in dataclasses.fields(cls)
                 if f.default_factory is not dataclasses.MISSING]
    if factories:
        # A fresh default per message, as __init__ gives, never one shared object.
        data = {k: v for k, v in _wire(_messages(cls)[0]).items() if k not in optional}
        first, second = decode(cls, data), decode(cls, data)
        assert all(getattr(first, name) is not getattr(second, name) for name in factories)


# --- invalid input: the same DecodeError, the same words ------------------------------------


class Text(str):
    pass


class Number(int):
    pass


class Mapping(dict[str, Any]):
    pass


class Hiding(dict[str, Any]):
    """A dict that says it lacks the keys it has: the generic path asks `in` first."""

    def __contains__(self, key: object) -> bool:
        return False


class GetOnly:
    """Not a dict, though it answers `get` like one."""

    def get(self, key: str, default: Any = None) -> Any:
        return {"event": "x", "payout": "y"}.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.get(key)


WRONG_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, 1e300, "", "x", "12.50", "1E+3", "12,50", "NaN", "sNaN",
    "Infinity", "-inf", " 1.5 ", "1_000", "2024-05-01T12:00:00", "2024-05-01T12:00:00Z",
    "2024-05-01T14:00:00.5+02:00", "2024-05-01 12:00:00-00:00", "2024-05-01", "yesterday",
    [], ["a"], [1], {}, {"a": "b"}, {"a": 1}, {"a": None}, [{"event": "x", "payout": "y"}],
    [{"event": 1}], [{"payout": "x"}], [{"event": "x", "payout": "y", "recurrent": 1}], ["x"],
    {"event": "x", "payout": "y"},
]
# Only through a dict (they have no JSON form, or lose their type on the way).
DICT_ONLY_VALUES: list[Any] = [
    Text("x"), Number(1), Decimal("1.5"), float("nan"), datetime(2024, 5, 1, tzinfo=UTC),
    Mapping(a="b"), {"a": Text("b")}, (1, 2), object(), GetOnly(), [GetOnly()],
    [Mapping(event="x", payout="y")], Hiding(a="b"),
]

def _broken(base: Any, **changes: Any) -> dict[str, Any]:
    return {**_wire(base), **changes}


TABLE = [
    (Click, b"{not json"),
    (Click, b""),
    (Click, b"[1, 2]"),
    (Click, b'"click"'),
    (Click, b"null"),
    (Click, b"42"),
    (Click, b"{}"),
    (Click, "{\"click_id\": 1}"),
    (Postback, _broken(samples.postback(), payout=12.5)),
    (Postback, _broken(samples.postback(), payout=True)),
    (Postback, _broken(samples.postback(), payout="12,50")),
    (Postback, _broken(samples.postback(), vendor_earnings="Infinity")),
    (Postback, {k: v for k, v in _wire(samples.postback()).items() if k != "payout"}),
    (Conversion, _broken(samples.conversion(), payout="NaN")),
    (Conversion, _broken(samples.conversion(), payout=None)),
    (Conversion, _broken(samples.conversion(), payout=1e3)),
    (Postback, _broken(samples.postback(), received_at="2024-05-03T08:30:15")),
    (Click, _broken(samples.click(), clicked_at="yesterday")),
    (Click, _broken(samples.click(), clicked_at=1714564800)),
    (Click, _broken(samples.click(), click_id=123)),
    (Click, _broken(samples.click(), params=["a", "b"])),
    (Click, _broken(samples.click(), params={"a": None})),
    (Click, _broken(samples.click(), schema_version=True)),
    (Click, _broken(samples.click(), schema_version="1")),
    (Click, {k: v for k, v in _wire(samples.click()).items()
             if k not in ("offer_id", "click_id")}),
    (PostbackIssue, _broken(samples.issue(), reason=None)),
    (Offer, _broken(samples.offer(), payouts={"event": "x"})),
    (Offer, _broken(samples.offer(), payouts=[{"event": 1, "payout": "postback"}])),
    (Offer, _broken(samples.offer(), payouts=[{"payout": "postback"}])),
    (Offer, _broken(samples.offer(), payouts=["purchase"])),
    (Offer, _broken(samples.offer(), postback_token=5)),
    (Offer, Mapping(_wire(samples.offer()), id=5)),
]


@pytest.mark.parametrize(("cls", "data"), TABLE, ids=lambda x: getattr(x, "__name__", None))
def test_invalid_input_raises_the_reference_error(cls: type[Any], data: Any) -> None:
    with pytest.raises(DecodeError) as caught:
        reference_decode(cls, data)
    assert _outcome(decode, cls, data) == ("raised", DecodeError, str(caught.value))


def _base(cls: type[Any]) -> dict[str, Any]:
    rng = random.Random(f"{SEED}-base-{cls.__name__}")
    while True:
        message = _random_message(cls, rng)
        if not _out_of_range(message):
            return _wire(message)


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_every_field_set_wrong_gives_the_reference_outcome(cls: type[Any]) -> None:
    """Each field, in turn: missing, null, or any of a palette of wrong (or odd) values.

    Some of these are valid ("12.50" or an int for money, a str subclass through a dict):
    the outcome, value or error, must be the reference's either way.
    """
    base = _base(cls)
    for f in dataclasses.fields(cls):
        missing = {k: v for k, v in base.items() if k != f.name}
        assert _outcome(decode, cls, missing) == _outcome(reference_decode, cls, missing)
        for value in WRONG_VALUES:
            data = {**base, f.name: value}
            wire = orjson.dumps(data)
            assert _outcome(decode, cls, wire) == _outcome(reference_decode, cls, wire), (
                f.name, value)
        for value in DICT_ONLY_VALUES:
            data = {**base, f.name: value}
            assert _outcome(decode, cls, data) == _outcome(reference_decode, cls, data), (
                f.name, value)


def test_unknown_fields_and_dict_subclasses_as_the_reference() -> None:
    for cls in MESSAGE_CLASSES:
        data = {**_base(cls), "added_in_v2": {"nested": [1, 2.5, None]}}
        for given in (data, OrderedDict(data), Mapping(data), Hiding(data), orjson.dumps(data)):
            assert _outcome(decode, cls, given) == _outcome(reference_decode, cls, given)


# --- the fast path is the one taken ---------------------------------------------------------


def _no_fallback(raw: dict[str, Any]) -> Any:
    raise AssertionError(f"gave up on {raw}")


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_compiled_decoder_does_not_give_up_on_valid_messages(cls: type[Any]) -> None:
    decoder = compile_decoder(cls, codec._converters, _no_fallback,  # type: ignore[arg-type]
                              codec._DECIMAL.fullmatch)
    for message in _random_messages(cls, 50):
        if _out_of_range(message):
            continue
        data = _wire(message)
        assert repr(decoder(data)) == repr(reference_decode(cls, data))


def test_compiled_encoder_needs_no_callback_for_utc_times_and_decimals() -> None:
    calls: list[Any] = []

    def default(value: Any) -> Any:
        calls.append(value)
        return codec._default(value)

    for cls in MESSAGE_CLASSES:
        encoder = compile_encoder(cls, default)
        assert encoder is not None, cls
        encoded = 0
        for message in _messages(cls)[:50]:
            times = [getattr(message, f.name) for f in dataclasses.fields(cls)
                     if isinstance(getattr(message, f.name), datetime)]
            if all(t.tzinfo is UTC or t.tzinfo is None for t in times):
                assert encoder(message) == reference_encode(message)
                encoded += 1
        assert encoded > 10, cls
    assert all(not isinstance(c, (Decimal, datetime)) for c in calls), calls[:3]


def test_decoded_containers_are_not_the_input_s() -> None:
    # The generic path builds new dicts and lists; a caller's dict stays its own.
    data = _wire(samples.offer())
    offer = decode(Offer, data)
    assert offer.payouts is not data["payouts"]
    data = _wire(samples.click())
    assert decode(Click, data).params is not data["params"]


# --- shapes no message has yet: the generators follow the reference there too ----------------


@dataclasses.dataclass(slots=True, kw_only=True)
class Inner:
    at: datetime
    amount: Decimal | None = None


@dataclasses.dataclass(slots=True, kw_only=True)
class Checked:
    name: str

    def __post_init__(self) -> None:
        self.name = self.name.upper()


@dataclasses.dataclass(slots=True, kw_only=True)
class Tree:
    name: str
    children: list[Tree] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True, kw_only=True)
class Shapes:
    _private: str = "hidden"
    when: datetime | None = None
    inner: Inner | None = None
    inners: list[Inner] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    tags: list[str] = dataclasses.field(default_factory=list)
    flag: bool | None = None
    checked: Checked | None = None


@dataclasses.dataclass(kw_only=True)
class WithDict:  # no __slots__: orjson writes the instance __dict__, extra attributes too
    name: str
    at: datetime


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Frozen:
    name: str
    at: datetime


PARIS = ZoneInfo("Europe/Paris")
SHAPES = [
    Shapes(),
    Shapes(_private="x", when=datetime(2024, 5, 1, 12, tzinfo=PARIS),
           inner=Inner(at=datetime(2024, 5, 1, tzinfo=PARIS), amount=Decimal("1E+3")),
           inners=[Inner(at=datetime(2024, 5, 1)), Inner(at=datetime(2024, 5, 1, tzinfo=UTC))],
           counts={"a": "1"}, tags=["a", "b"], flag=True),  # type: ignore[dict-item]
    Shapes(counts={"a": 1}),  # the generic path wants str values whatever the declared type
    WithDict(name="a", at=datetime(2024, 5, 1, 14, tzinfo=PARIS)),
    Checked(name="a"),
    Tree(name="a", children=[Tree(name="b", children=[Tree(name="c")])]),
    Shapes(checked=Checked(name="a")),
    Frozen(name="a", at=datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)),
]


@pytest.mark.parametrize("message", SHAPES, ids=lambda m: type(m).__name__)
def test_other_shapes_as_the_reference(message: Any) -> None:
    if isinstance(message, WithDict):
        message.extra = datetime(2024, 5, 1, tzinfo=PARIS)  # type: ignore[attr-defined]
    cls = type(message)
    assert _outcome(encode, message) == _outcome(reference_encode, message)
    data = orjson.loads(reference_encode(message))
    for given in (data, orjson.dumps(data), {**data, "_private": 5},
                  {**data, "inners": [{"at": "2024-05-01T12:00:00Z"}, GetOnly()]},
                  {**data, "inner": {"amount": "1.5"}}, {**data, "tags": ["a", 1]},
                  {**data, "name": "lower"}, {**data, "checked": {"name": "lower"}}):
        assert _outcome(decode, cls, given) == _outcome(reference_decode, cls, given), given
