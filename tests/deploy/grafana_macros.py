"""Grafana's expansion of a ClickHouse panel query, to run it against the real engine.

Order and output follow grafana-clickhouse-datasource 4.x: the frontend first replaces
`$__conditionalAll(condition, $var)` (the condition, or `1=1` when the variable selects
All), then Grafana interpolates template variables (`${var:singlequote}`, `$var`), then the
plugin's backend expands the time macros (pkg/macros/macros.go: `$__timeFilter(c)` ->
`c >= toDateTime(from) AND c <= toDateTime(to)`, `$__timeInterval(c)` ->
`toStartOfInterval(toDateTime(c), INTERVAL n second)`, ...). Anything left starting with
`$` is an error: a macro this file does not know would otherwise reach ClickHouse
unexpanded and the test would prove nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

ALL = "$__all"


@dataclass(frozen=True)
class Context:
    start: datetime
    end: datetime
    interval_s: int
    variables: dict[str, list[str]]  # name -> selected values, or [ALL]


def expand(sql: str, ctx: Context) -> str:
    sql = _function_macros(sql, "conditionalAll", lambda args: _conditional_all(args, ctx))
    sql = _variables(sql, ctx)
    backend: dict[str, Callable[[list[str]], str]] = {
        "timeFilter": lambda a: f"{a[0]} >= {_dt(ctx.start)} AND {a[0]} <= {_dt(ctx.end)}",
        "timeFilter_ms": lambda a: f"{a[0]} >= {_dt64(ctx.start)} AND {a[0]} <= {_dt64(ctx.end)}",
        "dateFilter": lambda a: f"{a[0]} >= {_date(ctx.start)} AND {a[0]} <= {_date(ctx.end)}",
        "timeInterval": lambda a: (f"toStartOfInterval(toDateTime({a[0]}), "
                                   f"INTERVAL {max(ctx.interval_s, 1)} second)"),
    }
    for name, render in backend.items():
        sql = _function_macros(sql, name, render)
    sql = sql.replace("$__fromTime", _dt(ctx.start)).replace("$__toTime", _dt(ctx.end))
    sql = sql.replace("$__interval_s", str(max(ctx.interval_s, 1)))
    leftover = re.findall(r"\$\{?\w+", sql)
    if leftover:
        raise ValueError(f"unexpanded macros or variables {leftover} in: {sql}")
    return sql


def _conditional_all(args: list[str], ctx: Context) -> str:
    condition, variable = args
    name = variable.strip().lstrip("$").strip("{}")
    return "1=1" if ctx.variables[name] == [ALL] else condition


def _variables(sql: str, ctx: Context) -> str:
    def values(name: str) -> list[str]:
        selected = ctx.variables[name]
        if selected == [ALL]:
            raise ValueError(f"${name} with All must be wrapped in $__conditionalAll")
        return selected

    def formatted(match: re.Match[str]) -> str:
        name, fmt = match.group(1), match.group(2)
        if fmt != "singlequote":
            raise ValueError(f"format {fmt!r} of ${name} is not emulated here")
        return ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
                        for v in values(name))

    sql = re.sub(r"\$\{(\w+):(\w+)\}", formatted, sql)
    names = sorted(ctx.variables, key=len, reverse=True)
    for name in names:
        sql = re.sub(rf"\$\{{{name}\}}|\${name}\b", lambda _m, n=name: ",".join(values(n)), sql)
    return sql


def _function_macros(sql: str, name: str, render: Callable[[list[str]], str]) -> str:
    token = f"$__{name}("
    while (start := sql.find(token)) != -1:
        depth, i = 0, start + len(token) - 1
        args, current = [], ""
        while True:
            char = sql[i]
            if char == "(":
                depth += 1
                if depth > 1:
                    current += char
            elif char == ")":
                depth -= 1
                if depth == 0:
                    break
                current += char
            elif char == "," and depth == 1:
                args.append(current.strip())
                current = ""
            else:
                current += char
            i += 1
        args.append(current.strip())
        sql = sql[:start] + render(args) + sql[i + 1:]
    return sql


def _dt(t: datetime) -> str:
    return f"toDateTime({int(t.timestamp())})"


def _dt64(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(t.timestamp() * 1000)})"


def _date(t: datetime) -> str:
    return f"toDate('{t:%Y-%m-%d}')"
