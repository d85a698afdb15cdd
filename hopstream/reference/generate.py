"""Which generated documents exist, writing them, and finding the stale ones.

`hopstream docs --write` writes them; `hopstream docs` (in `make test`) lists the
documents whose committed text differs from what the code renders now.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import hopstream
from hopstream.generated import stale_files, write_files
from hopstream.reference import configuration, topics

DOCS_DIR = Path(hopstream.__file__).resolve().parent.parent / "docs"

RENDERERS: dict[str, Callable[[], str]] = {
    "configuration.md": configuration.render,
    "topics.md": topics.render,
}


def expected_documents() -> dict[str, str]:
    """File name under docs/ -> the exact text it must hold."""
    return {name: render() for name, render in RENDERERS.items()}


def _expected_bytes() -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in expected_documents().items()}


def stale_documents(directory: Path = DOCS_DIR) -> list[str]:
    return stale_files(directory, _expected_bytes())


def write_documents(directory: Path = DOCS_DIR) -> list[Path]:
    return write_files(directory, _expected_bytes())
