"""The generated references under docs/: up to date, and complete."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from hopstream.cli import main
from hopstream.reference.generate import (
    DOCS_DIR,
    expected_documents,
    stale_documents,
    write_documents,
)
from hopstream.settings import Settings
from schemas import topics


def test_committed_references_are_up_to_date() -> None:
    assert stale_documents() == [], (
        "docs/ is stale (a setting, topic or message contract changed): run "
        "`hopstream docs --write` and commit the result")


def test_docs_command_checks() -> None:
    assert main(["docs"]) == 0


def test_a_changed_document_is_reported_stale(tmp_path: Path) -> None:
    write_documents(tmp_path)
    assert stale_documents(tmp_path) == []
    path = tmp_path / "configuration.md"
    path.write_text(path.read_text().replace("HOPSTREAM_PARTITIONS", "HOPSTREAM_PARTITION"))
    assert stale_documents(tmp_path) == ["configuration.md"]


def test_configuration_reference_lists_every_setting_with_its_doc() -> None:
    text = expected_documents()["configuration.md"]
    for f in fields(Settings):
        meta = f.metadata["setting"]
        assert f"| `{meta.env}` |" in text
        assert meta.doc.replace("|", "\\|") in text


def test_topic_reference_has_a_section_per_topic() -> None:
    text = expected_documents()["topics.md"]
    for topic in topics.ALL_TOPICS:
        assert f"\n## {topic.name}\n" in text
        assert f"schemas/json/{topic.schema}" in text
    assert "compact" in text.split(f"## {topics.OFFERS.name}")[1]


def test_readme_points_at_the_generated_references() -> None:
    readme = (DOCS_DIR.parent / "README.md").read_text()
    assert "docs/configuration.md" in readme and "docs/topics.md" in readme
