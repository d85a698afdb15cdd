"""The Dockerfile: pinned base, non-root, and exactly the dependencies pyproject.toml pins
(through deploy/requirements.lock, which also pins the transitive ones)."""

from __future__ import annotations

import re
import tomllib

from tests.deploy.compose import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = ROOT / "deploy" / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(keyword: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines()
            if line.split(None, 1)[:1] == [keyword]]


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        name, _, version = line.partition("==")
        found[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    return found


def lock_pins() -> dict[str, str]:
    lines = [line for line in LOCK.read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.+-]+", line) for line in lines), lines
    return pins(lines)


def test_base_image_is_pinned_to_the_python_the_suite_runs() -> None:
    (base,) = instructions("FROM")
    match = re.fullmatch(r"python:(\d+\.\d+)\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base)
    assert match, base
    assert match.group(1) == PYPROJECT["tool"]["mypy"]["python_version"]


def test_runs_as_a_non_root_user_after_installing() -> None:
    users = instructions("USER")
    assert users and users[-1] not in {"root", "0"}
    assert DOCKERFILE.rindex("\nUSER ") > DOCKERFILE.rindex("\nRUN ")


def test_lock_pins_every_dependency_as_pyproject_does() -> None:
    wanted = pins(PYPROJECT["project"]["dependencies"])
    locked = lock_pins()
    differing = {name: (version, locked.get(name)) for name, version in wanted.items()
                 if locked.get(name) != version}
    assert not differing, f"pyproject vs lock (run `make lock`): {differing}"
    assert "hopstream" not in locked


def test_image_installs_the_lock_and_nothing_unpinned() -> None:
    commands = [c.strip() for run in instructions("RUN") for c in run.split("&&")]
    installs = [c.removeprefix("pip install ") for c in commands if c.startswith("pip install")]
    assert installs == ["--no-deps -r requirements.lock", "--no-deps ."], installs
    runs = " ".join(commands)
    copies = instructions("COPY")
    assert "deploy/requirements.lock ./requirements.lock" in copies
    assert "pip check" in runs


def test_every_package_of_the_project_is_copied() -> None:
    copied = {c.split()[0] for c in instructions("COPY")}
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"][
        "include"]}
    assert packages <= copied, packages - copied
    assert all((ROOT / path).exists() for path in copied)


def test_build_context_leaves_out_state_and_secrets() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".hopstream", "deploy/secrets"} <= ignored
