"""Which generated documents exist, writing them, and finding the stale ones.

`hopstream docs --write` writes them; `hopstream docs` (in `make test`) lists the
documents whose committed text differs from what the code renders now.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hopstream
from hopstream.reference import configuration, topics

DOCS_DIR = Path(hopstream.__file__).resolve().parent.parent / "docs"

RENDERERS: dict[str, Callable[[], str]] = {
    "configuration.md": configuration.render,
    "topics.md": topics.render,
}


def expected_documents() -> dict[str, str]:
    """File name under docs/ -> the exact text it must hold."""
    return {name: render() for name, render in RENDERERS.items()}


def stale_documents(directory: Path = DOCS_DIR) -> list[str]:
    stale = []
    for name, text in expected_documents().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_documents(directory: Path = DOCS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
