"""One decoder function per message class, written once from its fields.

`schemas.codec` states the decoding rules generically: one converter per field type, a
kwargs dict, the dataclass `__init__`. That cost about 10 us per click, and the streams
worker decodes every click and postback. The functions written here do the same work in
straight-line code: each field read once, its type checked with `type(v) is str`, converted
inline, and the instance filled slot by slot (calling a dataclass `__init__` with 30
keywords costs more than all the checks together).

They only know the common case. Anything else (a wrong type, a missing required field, an
unparsable time, a value of a subclass, ...) makes them give up and hand the same dict to
`fallback`, the generic path, which returns the value or raises the `DecodeError`. So the
result is always the generic path's result, and every error is its error, in its words.

Two tiers per class, because `raw["x"]` is about twice as fast as `raw.get("x", MISSING)`:
- every field present, as `schemas.codec.encode` always writes them: subscripts only;
- otherwise (a message from a writer that predates an optional field): `get`, with the
  fields' defaults.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Decoder = Callable[[dict[str, Any]], Any]
Converters = Callable[[type[Any]], tuple[tuple[str, Callable[[Any], Any]], ...]]


class _GiveUp(Exception):
    """Raised inside a compiled decoder: not the common case, use the fallback."""


_MISSING = object()


def compile_decoder(cls: type[Any], converters: Converters, fallback: Decoder,
                    decimal_string: Callable[[str], object]) -> Decoder:
    """The decoder of dataclass `cls`.

    `converters(cls)` are the generic path's, one per field: used for the fields whose type
    is not inlined here. `fallback(raw)` is the generic path for the whole class, and is
    what a class this module cannot fill directly gets (see `_fill_slots`).
    `decimal_string(s)` is truthy for a string the wire allows as a decimal.
    """
    if not _fill_slots(cls):
        return fallback
    with_defaults = _compile(cls, converters, fallback, decimal_string, every_field=False)
    return _compile(cls, converters, with_defaults, decimal_string, every_field=True)


def _give_up(raw: dict[str, Any]) -> Any:
    raise _GiveUp


def _compile(
    cls: type[Any], converters: Converters, fallback: Decoder,
    decimal_string: Callable[[str], object], every_field: bool,
    enclosing: frozenset[type[Any]] = frozenset(),
) -> Decoder:
    hints = typing.get_type_hints(cls)
    generic = dict(converters(cls))
    enclosing |= {cls}

    def nested(tp: type[Any]) -> Decoder | None:
        # A dataclass inside `cls` gives up as a whole (its fallback raises _GiveUp), so the
        # generic path decodes the outer message and words the error with the field's name.
        # A recursive type is left to the generic converter.
        if tp in enclosing or not _fill_slots(tp):
            return None
        return _compile(tp, converters, _give_up, decimal_string, every_field=False,
                        enclosing=enclosing)

    ns: dict[str, Any] = {
        "MISSING": _MISSING, "GiveUp": _GiveUp, "fallback": fallback, "cls": cls,
        "new": object.__new__, "Decimal": Decimal, "fromisoformat": datetime.fromisoformat,
        "decimal_string": decimal_string,
        "UTC": UTC,
    }
    fields = dataclasses.fields(cls)
    body = [] if every_field else ["get = raw.get"]
    for i, f in enumerate(fields):
        body += _field(f, hints[f.name], f"v{i}", every_field, ns, generic[f.name], nested)
    body.append("o = new(cls)")
    body += [f"o.{f.name} = v{i}" for i, f in enumerate(fields)]
    body.append("return o")
    source = "\n".join([
        "def decode(raw):",
        "    try:",
        *(f"        {line}" for line in body),
        # Any exception, _GiveUp or not (a missing key, a bad decimal string, a nested
        # message that gave up): the fallback decides, from scratch.
        "    except Exception:",
        "        pass",
        "    return fallback(raw)",
    ])
    decoder: Decoder = define(source, "decode", cls, ns)
    return decoder


def define(source: str, name: str, cls: type[Any], ns: dict[str, Any]) -> Any:
    """The function `name` that `source` defines, generated for `cls` with globals `ns`
    (named after both in tracebacks and profiles; `.source` holds what was generated)."""
    exec(compile(source, f"<{name}r of {cls.__qualname__}>", "exec"), ns)
    function = ns[name]
    function.__qualname__ = function.__name__ = f"{name}_{cls.__name__}"
    function.source = source
    return function


def _fill_slots(cls: type[Any]) -> bool:
    """Whether `object.__new__` + one store per field does exactly what `__init__` would.

    True for a plain dataclass, as every message is; not with `__post_init__`, `InitVar` or
    `init=False` fields, a frozen class or a custom `__new__`/`__setattr__`.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return False
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    fields = dataclasses.fields(cls)
    return (params.init and not params.frozen and all(f.init for f in fields)
            and len(fields) == len(cls.__dataclass_fields__)  # no InitVar / ClassVar
            and not hasattr(cls, "__post_init__")
            and cls.__new__ is object.__new__ and cls.__setattr__ is object.__setattr__)


def _field(
    f: dataclasses.Field[Any], tp: Any, var: str, every_field: bool, ns: dict[str, Any],
    generic: Callable[[Any], Any], nested: Callable[[type[Any]], Decoder | None],
) -> list[str]:
    """Lines leaving field `f`'s value in `var`, or raising."""
    # `absent`: what to do when the key is missing (None: give up, the generic path words
    # the missing field). The first tier never sees a missing key (KeyError: next tier).
    absent = None
    if every_field:
        lines = [f"{var} = raw[{f.name!r}]"]
    else:
        lines = [f"{var} = get({f.name!r}, MISSING)"]
        if f.default is not dataclasses.MISSING:
            ns[f"default_{var}"] = f.default
            absent = f"{var} = default_{var}"
        elif f.default_factory is not dataclasses.MISSING:
            ns[f"factory_{var}"] = f.default_factory
            absent = f"{var} = factory_{var}()"
    optional = typing.get_origin(tp) in (types.UnionType, typing.Union)
    inline = _inline(_non_null(tp) if optional else tp, var, ns, nested)
    if inline is None:
        # Not a common shape: the generic converter, on any value (it handles None).
        ns[f"convert_{var}"] = generic
        convert = f"{var} = convert_{var}({var})"
        if every_field:
            return [*lines, convert]
        return [*lines, f"if {var} is MISSING:", f"    {absent or 'raise GiveUp'}", "else:",
                f"    {convert}"]
    wire_type, conversion = inline
    others = [f"elif {var} is MISSING:", f"    {absent}"] if absent else []
    if optional:
        others += [f"elif {var} is None:", "    pass"]
    if not conversion and not others:
        return [*lines, f"if type({var}) is not {wire_type}:", "    raise GiveUp"]
    return [*lines, f"if type({var}) is {wire_type}:",
            *(f"    {line}" for line in conversion or ["pass"]), *others, "else:",
            "    raise GiveUp"]


def _inline(
    tp: Any, var: str, ns: dict[str, Any], nested: Callable[[type[Any]], Decoder | None]
) -> tuple[str, list[str]] | None:
    """(JSON type of the common case, lines converting it), or None if not inlined.

    Each case accepts a subset of what the generic converter accepts and gives the same
    value: e.g. a decimal from a string only (an int goes the generic way).
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (str, int, bool):
        # `type(v) is int` also keeps booleans out, as the generic check does.
        return tp.__name__, []
    if tp is Decimal:
        # The contract's pattern (what Decimal() alone would also take goes the generic
        # way, which refuses it); such a string is always finite.
        return "str", [f"if not decimal_string({var}):", "    raise GiveUp",
                       f"{var} = Decimal({var})"]
    if tp is datetime:
        # fromisoformat gives "...Z" and "...+00:00" the UTC singleton as tzinfo, and
        # astimezone(UTC) returns such a datetime itself: skip the call.
        return "str", [f"{var} = fromisoformat({var})",
                       f"if {var}.tzinfo is not UTC:",
                       f"    if {var}.tzinfo is None:", "        raise GiveUp",
                       f"    {var} = {var}.astimezone(UTC)"]
    if origin is dict and len(args) == 2 and args[1] is str:
        # The generic converter checks every value is a str (whatever the declared value
        # type) and copies the dict; only dict[..., str] is inlined, where that is the type.
        return "dict", [f"for x in {var}.values():", "    if type(x) is not str:",
                        "        raise GiveUp", f"{var} = {var}.copy()"]
    if origin is list and len(args) == 1 and _fill_slots(args[0]):
        item = nested(args[0])
        if item is None:
            return None
        ns[f"item_{var}"] = item
        return "list", [
            "items = []",
            f"for x in {var}:",
            "    if type(x) is not dict:",
            "        raise GiveUp",
            f"    items.append(item_{var}(x))",
            f"{var} = items",
        ]
    if _fill_slots(tp):
        item = nested(tp)
        if item is None:
            return None
        ns[f"item_{var}"] = item
        return "dict", [f"{var} = item_{var}({var})"]
    return None


def _non_null(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if len(args) == 1 else tp
