"""REFERENCE ONLY: `schemas.codec`'s encode/decode as they were before the compiled fast path.

Kept verbatim (the JSON Schema half left out) so that tests/unit/test_codec_equivalence.py
can prove the fast codec writes the same bytes and raises the same errors, and so that
`python -m bench.codec` can time old against new. The one change: `DecodeError` is the
codec's own class, so both raise the same type. Do not "fix" or speed up this file: it is
the behaviour the codec must keep.
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

from schemas.codec import DecodeError

T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Fixed-point always: str() would write Decimal("1E+3") as "1E+3".
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot encode {type(value).__name__}")


def reference_encode(message: Any) -> bytes:
    # Datetimes go through _default so that every one is written in UTC with a Z suffix,
    # whatever zone it was made in.
    return orjson.dumps(message, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def reference_decode(cls: type[T], data: bytes | str | dict[str, Any]) -> T:
    """Parse `data` into `cls`, converting each field to its declared type."""
    try:
        raw = data if isinstance(data, dict) else orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"{cls.__name__}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DecodeError(f"{cls.__name__}: expected a JSON object")
    return _from_dict(cls, raw)


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


_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")  # schemas.codec.DECIMAL_PATTERN


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
