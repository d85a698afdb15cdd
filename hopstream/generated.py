"""Files generated from the code (JSON Schemas, reference docs): written, or checked stale.

Generated files are committed so that readers need no tool to read them; `make test`
checks that they still match what the code would write.
"""

from __future__ import annotations

from pathlib import Path


def write_files(directory: Path, files: dict[str, bytes]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = directory / name
        path.write_bytes(content)
        written.append(path)
    return written


def stale_files(directory: Path, files: dict[str, bytes]) -> list[str]:
    """Names whose file is missing or differs from what would be written."""
    return [name for name, content in files.items()
            if not (directory / name).is_file() or (directory / name).read_bytes() != content]
