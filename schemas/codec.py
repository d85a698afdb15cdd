"""JSON encoding of message contracts, and the JSON Schema derived from them.

The contract of every topic is a dataclass in `schemas.messages`. This module turns those
dataclasses into bytes (orjson) and back, and derives the JSON Schema files committed under
`schemas/json/` (a test fails when the committed files and the dataclasses disagree).

Wire rules, the same for every message:
- money is a JSON string holding a decimal (`"12.50"`), never a float, so it stays exact;
- times are RFC 3339 strings in UTC with a `Z` suffix;
- every field is always written; readers ignore fields they do not know, so adding an
  optional field is a compatible change and anything else bumps `schema_version`.

The rules are written once, generically, below (`_default`, `_converter`). For speed,
`encode` and `decode` run a function generated per message class (`schemas.encoders`,
`schemas.decoders`) that does the same in straight-line code for the common case and hands
anything else to the generic code, so results, bytes and error messages are the same.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, TypeVar

import orjson

from schemas.decoders import Converters, Decoder, compile_decoder
from schemas.encoders import Encoder, compile_encoder

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL = re.compile(DECIMAL_PATTERN)

T = TypeVar("T")


class DecodeError(ValueError):
    """A message does not match its contract."""


def doc(text: str, **kwargs: Any) -> Any:
    """A dataclass field carrying its documentation into the JSON Schema."""
    return dataclasses.field(metadata={"doc": text}, **kwargs)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Fixed-point always: str() would write Decimal("1E+3") as "1E+3".
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot encode {type(value).__name__}")


def to_dict(message: Any) -> dict[str, Any]:
    """The message as JSON-ready values (Decimal as str, datetimes as RFC 3339)."""
    data: dict[str, Any] = orjson.loads(encode(message))
    return data


def encode(message: Any) -> bytes:
    """The message as JSON bytes: through its class's generated encoder when it has one."""
    try:
        encoder = _encoders[type(message)]
    except KeyError:
        encoder = _encoders[type(message)] = _compile_encoder(type(message))
    if encoder is not None:
        return encoder(message)
    # Datetimes go through _default so that every one is written in UTC with a Z suffix,
    # whatever zone it was made in.
    return orjson.dumps(message, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def decode(cls: type[T], data: bytes | str | dict[str, Any]) -> T:
    """Parse `data` into `cls`, converting each field to its declared type."""
    try:
        raw = data if isinstance(data, dict) else orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{cls.__name__}: not JSON: {exc}") from None
    if type(raw) is dict:
        try:
            decoder = _decoders[cls]
        except KeyError:
            decoder = _decoders[cls] = _compile_decoder(cls)
        result: T = decoder(raw)
        return result
    if not isinstance(raw, dict):
        raise DecodeError(f"{cls.__name__}: expected a JSON object")
    return _from_dict(cls, raw)  # a dict subclass: the generic path, whatever it overrides


# The generated functions, by class; an encoder is None for types orjson does not write
# field by field (not a slotted dataclass): those take the generic path.
_encoders: dict[type[Any], Encoder | None] = {}
_decoders: dict[type[Any], Decoder] = {}


def _compile_encoder(cls: type[Any]) -> Encoder | None:
    try:
        return compile_encoder(cls, _default)
    except Exception:  # e.g. annotations that do not resolve: the generic path needs none
        return None


def _compile_decoder(cls: type[Any]) -> Decoder:
    # The generic converters first: a class they refuse raises here exactly as it would
    # have on the generic path (and is not cached, so it raises again next time).
    _converters(cls)  # type: ignore[arg-type]
    converters: Converters = _converters  # type: ignore[assignment]
    return compile_decoder(cls, converters, lambda raw: _from_dict(cls, raw), _DECIMAL.fullmatch)


def _from_dict(cls: type[T], raw: dict[str, Any]) -> T:
    kwargs: dict[str, Any] = {}
    for name, convert in _converters(cls):  # type: ignore[arg-type]
        if name in raw:
            try:
                kwargs[name] = convert(raw[name])
            except (TypeError, ValueError, InvalidOperation) as exc:
                raise DecodeError(f"{cls.__name__}.{name}: {exc}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DecodeError(f"{cls.__name__}: {exc}") from None


@cache
def _converters(cls: type[Any]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))


def _converter(tp: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = _converter(_non_null(tp))
        return lambda v: None if v is None else inner(v)
    if tp is Decimal:
        return _to_decimal
    if tp is datetime:
        return _to_datetime
    if tp in (str, int, bool):
        return lambda v: _check(v, tp)
    if origin is dict:
        return lambda v: {k: _check(x, str) for k, x in _check(v, dict).items()}
    if origin is list:
        item = _converter(typing.get_args(tp)[0])
        return lambda v: [item(x) for x in _check(v, list)]
    if dataclasses.is_dataclass(tp):
        return lambda v: _from_dict(tp, _check(v, dict))  # type: ignore[arg-type]
    raise TypeError(f"no converter for {tp!r}")


def _check(value: Any, tp: type[T]) -> T:
    if tp is int and isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if not isinstance(value, tp):
        raise TypeError(f"expected {tp.__name__}, got {type(value).__name__}")
    return value


def _to_decimal(value: Any) -> Decimal:
    # Floats are refused: a float on the wire has already lost the exact amount.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"expected a decimal string, got {type(value).__name__}")
    # The contract's pattern: Decimal() alone also takes "1e3", " 5" and "1_0".
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError(f"not a decimal string like 12.34: {value[:50]!r}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return result


def _to_datetime(value: Any) -> datetime:
    parsed = datetime.fromisoformat(_check(value, str))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return parsed.astimezone(UTC)


def _non_null(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) != 1:
        raise TypeError(f"only `X | None` unions are supported, got {tp!r}")
    return args[0]


# --- JSON Schema ---------------------------------------------------------------------------


def json_schema(cls: type[Any], title: str, topic: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a message dataclass."""
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
    }
    if topic is not None:
        schema["description"] = f"Messages of the Kafka topic `{topic}`."
    schema.update(_object_schema(cls))
    return schema


def _object_schema(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        prop = _type_schema(hints[f.name])
        if f.name == "schema_version":
            prop = {"type": "integer", "const": f.default}
        if "doc" in f.metadata:
            prop = {"description": f.metadata["doc"], **prop}
        properties[f.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [f.name for f in dataclasses.fields(cls)],
        # Readers must accept fields added by a later compatible version.
        "additionalProperties": True,
    }


def _type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [_type_schema(_non_null(tp)), {"type": "null"}]}
    if tp is str:
        return {"type": "string"}
    if tp is int:
        return {"type": "integer"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is Decimal:
        return {"type": "string", "pattern": DECIMAL_PATTERN}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(typing.get_args(tp)[1])}
    if origin is list:
        return {"type": "array", "items": _type_schema(typing.get_args(tp)[0])}
    if dataclasses.is_dataclass(tp):
        return _object_schema(tp)  # type: ignore[arg-type]
    raise TypeError(f"no JSON Schema for {tp!r}")
