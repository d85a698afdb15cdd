"""One encoder function per message class, written once from its fields.

`schemas.codec` encodes a message by handing the dataclass to orjson with
`OPT_PASSTHROUGH_DATETIME` and a `default` callback, so every datetime and Decimal is a
call from orjson back into Python (about 1 us for a datetime), and orjson reads a slotted
dataclass the slow way (it asks each instance for a `__dict__` first, which raises). The
function written here hands orjson a dict instead, in field order, with the common values
already converted:
- a Decimal (exactly `Decimal`) becomes `format(value, "f")`, what the callback returns;
- a datetime (exactly `datetime`) in UTC or naive becomes an `orjson.Fragment` that orjson
  itself wrote with OPT_UTC_Z | OPT_NAIVE_UTC: the same text the callback writes
  (RFC 3339, microseconds only when there are some, `Z`).
Everything else, including a datetime in another zone, is left in the dict and reaches the
same callback with the same options as before. So the bytes are the same; only the trips
into Python are fewer.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from schemas.decoders import define

Encoder = Callable[[Any], bytes]

# What `schemas.codec.encode` passes to orjson; the compiled encoders pass the same.
OPTION = orjson.OPT_PASSTHROUGH_DATETIME
# How a UTC or naive datetime is written by orjson itself (naive ones are UTC on the wire).
_UTC_OPTION = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def compile_encoder(cls: type[Any], default: Callable[[Any], Any]) -> Encoder | None:
    """The encoder of dataclass `cls`, or None if orjson would not write it as its fields.

    `default` is the codec's orjson callback. A slot never set raises AttributeError here
    (orjson 3.13 itself crashes the interpreter on one).
    """
    if not _written_field_by_field(cls):
        return None
    hints = typing.get_type_hints(cls)
    ns: dict[str, Any] = {
        "dumps": orjson.dumps, "default": default, "OPTION": OPTION,
        "Fragment": orjson.Fragment, "UTC": UTC, "UTC_OPTION": _UTC_OPTION,
        "datetime": datetime, "Decimal": Decimal,
    }
    # orjson writes every field of the class, in order, but those named with a leading _.
    fields = [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    # A dict display of 30 keys grows the dict several times over; a copy of a dict that
    # already has the keys, in field order, then filled in, does not (about half the cost).
    ns["keys"] = dict.fromkeys(f.name for f in fields)
    body = ["d = keys.copy()"]
    for f in fields:
        tp = _non_null(hints[f.name])
        if tp is Decimal:
            body += [f"v = m.{f.name}", "if type(v) is Decimal:", "    v = format(v, 'f')",
                     f"d[{f.name!r}] = v"]
        elif tp is datetime:
            body += [f"v = m.{f.name}",
                     "if type(v) is datetime and (v.tzinfo is UTC or v.tzinfo is None):",
                     "    v = Fragment(dumps(v, option=UTC_OPTION))", f"d[{f.name!r}] = v"]
        else:
            body.append(f"d[{f.name!r}] = m.{f.name}")
    source = "\n".join([
        "def encode(m):",
        *(f"    {line}" for line in body),
        "    return dumps(d, default=default, option=OPTION)",
    ])
    encoder: Encoder = define(source, "encode", cls, ns)
    return encoder


def _written_field_by_field(cls: type[Any]) -> bool:
    # orjson writes a dataclass from its fields only when the class declares __slots__;
    # otherwise it writes the instance __dict__ (which may hold more than the fields).
    return dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__


def _non_null(tp: Any) -> Any:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp
