"""Reading docker-compose.yml as `docker compose` would, without Docker.

Compose interpolates `${NAME}`, `${NAME:?message}` and `${NAME:-default}` in the file's
values from `.env`: the tests interpolate from deploy/env.example (the template an
operator copies to `.env`), so a variable missing from the template fails here instead of
at an operator's first `docker compose up`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[?-])([^}]*))?\}")

# Services running the hopstream image, by command.
HOPSTREAM_COMMANDS = {"receiver", "worker", "sink", "topics", "offers", "migrate", "dashboard"}


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def variables_used(text: str) -> set[str]:
    return {m.group(1) for m in _VARIABLE.finditer(text)}


def interpolate(text: str, values: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if name in values:
            return values[name]
        if operator in (":-", "-"):
            return argument
        raise KeyError(f"${{{name}}} is not defined in deploy/env.example")

    return _VARIABLE.sub(substitute, text)


def raw() -> dict[str, Any]:
    """The file as written, before interpolation."""
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def load() -> dict[str, Any]:
    values = env_example()

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, values)
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    document: dict[str, Any] = walk(raw())
    return document


def strings(node: Any) -> list[str]:
    """Every string value of a parsed document (where compose interpolates)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load()["services"]
    return found


def hopstream_services() -> dict[str, dict[str, Any]]:
    return {
        name: service for name, service in services().items()
        if service.get("build") is not None
        or str(service.get("image", "")).startswith("hopstream:")
    }


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command") or []
    return str(command[1]) if len(command) > 1 and command[0] == "hopstream" else ""


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}
