"""Shared fixtures: a real Kafka-protocol broker and the real ClickHouse engine.

- `kafka`: one embedded broker (Tansu) per test session on a free port. Tests that need
  topics to themselves use unique consumer groups and filter by the ids they created.
- `ch_client`: chdb, the ClickHouse engine in-process. chdb opens one data path per
  process, so the whole session shares `<basetemp>/chdb-shared`; each session uses a random
  database (`hopstream_test_<hex>`) so nothing leaks between runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hopstream.settings import Settings
from services.kafka.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker


@pytest.fixture(scope="session")
def chdb_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "chdb-shared"


@pytest.fixture(scope="session")
def test_database() -> str:
    return f"hopstream_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def base_settings(chdb_data_dir: Path, test_database: str) -> Settings:
    return Settings.from_env(
        {
            "HOPSTREAM_DATA_DIR": str(chdb_data_dir),
            "HOPSTREAM_CLICKHOUSE_DATABASE": test_database,
            "HOPSTREAM_PARTITIONS": "4",
            "HOPSTREAM_REBALANCE_TIMEOUT_S": "1",
            "HOPSTREAM_SESSION_TIMEOUT_S": "6",
            "HOPSTREAM_LOG_LEVEL": os.environ.get("HOPSTREAM_LOG_LEVEL", "INFO"),
        }
    )


@pytest.fixture(scope="session")
def ch_client(base_settings: Settings) -> Iterator[Any]:
    from services.clickhouse.client import make_client
    from services.clickhouse.migrate import migrate

    client = make_client(base_settings)
    migrate(client, base_settings.clickhouse_database)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {base_settings.clickhouse_database}")
    client.close()


@pytest.fixture
def settings(base_settings: Settings, kafka: EmbeddedBroker) -> Settings:
    """Settings pointing at the session's broker and ClickHouse database."""
    return base_settings.replace(kafka_bootstrap_servers=kafka.bootstrap_servers)
