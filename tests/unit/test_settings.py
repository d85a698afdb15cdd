"""hopstream.settings: defaults, parsing and validation of the environment, round trip."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hopstream.settings import SAMPLE_OFFERS, Settings, SettingsError, describe


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == Path(".hopstream").resolve()
    assert s.offers_file == SAMPLE_OFFERS
    assert s.kafka_bootstrap_servers is None
    assert s.kafka_port == 9092
    assert s.partitions == 8
    assert s.replication_factor == 1
    assert s.kafka_idempotence is False
    assert s.clickhouse_url is None
    assert s.clickhouse_database == "hopstream"
    assert s.receiver_host == "127.0.0.1"
    assert s.receiver_port == 8080
    assert s.sink_batch_rows == 50_000
    assert s.sink_batch_seconds == 1.0
    assert s.log_level == "INFO"


def test_sample_offers_file_is_shipped() -> None:
    assert SAMPLE_OFFERS.is_file()


def test_empty_environment_gives_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_empty_string_means_unset() -> None:
    assert Settings.from_env({"HOPSTREAM_RECEIVER_PORT": "", "CLICKHOUSE_URL": ""}) == Settings()


def test_explicit_mapping_does_not_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPSTREAM_RECEIVER_PORT", "9999")
    assert Settings.from_env({}).receiver_port == 8080
    assert Settings.from_env().receiver_port == 9999


def test_from_env_parses_every_kind() -> None:
    s = Settings.from_env({
        "HOPSTREAM_RECEIVER_PORT": "9000",
        "HOPSTREAM_PARTITIONS": " 16 ",
        "HOPSTREAM_SINK_BATCH_SECONDS": "0.25",
        "HOPSTREAM_REBALANCE_TIMEOUT_S": "3",
        "HOPSTREAM_KAFKA_IDEMPOTENCE": "true",
        "HOPSTREAM_DATA_DIR": "/var/lib/hopstream",
        "HOPSTREAM_OFFERS": "conf/offers.yaml",
        "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
        "CLICKHOUSE_URL": "https://u:p@ch.example:8443",
        "HOPSTREAM_LOG_LEVEL": "debug",
    })
    assert s.receiver_port == 9000
    assert s.partitions == 16
    assert s.sink_batch_seconds == 0.25
    assert s.rebalance_timeout_s == 3.0
    assert isinstance(s.rebalance_timeout_s, float)
    assert s.kafka_idempotence is True
    assert s.data_dir == Path("/var/lib/hopstream")
    assert s.offers_file == Path("conf/offers.yaml").resolve()
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert s.clickhouse_url == "https://u:p@ch.example:8443"
    assert s.log_level == "debug"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), (" on ", True),
     ("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_bool_spellings(raw: str, expected: bool) -> None:
    assert Settings.from_env({"HOPSTREAM_KAFKA_IDEMPOTENCE": raw}).kafka_idempotence is expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOPSTREAM_RECEIVER_PORT", "abc"),
        ("HOPSTREAM_KAFKA_PORT", "90.5"),
        ("HOPSTREAM_PARTITIONS", "0"),
        ("HOPSTREAM_REPLICATION_FACTOR", "-1"),
        ("HOPSTREAM_SINK_BATCH_ROWS", "0"),
        ("HOPSTREAM_SINK_BATCH_SECONDS", "0"),
        ("HOPSTREAM_SESSION_TIMEOUT_S", "soon"),
        ("HOPSTREAM_LATE_CLICK_GRACE_S", "0"),
        ("HOPSTREAM_CLICK_SWEEP_S", "-1"),
        ("HOPSTREAM_REBALANCE_TIMEOUT_S", "-5"),
        ("CLICKHOUSE_URL", "ftp://x"),
        ("HOPSTREAM_KAFKA_IDEMPOTENCE", "maybe"),
        ("HOPSTREAM_CLICKHOUSE_DATABASE", "my-db"),
        ("HOPSTREAM_LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(variable)):
        Settings.from_env({variable: value})


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_all_range_problems_are_reported_together() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"HOPSTREAM_PARTITIONS": "0", "HOPSTREAM_RECEIVER_PORT": "0"})
    assert "HOPSTREAM_PARTITIONS" in str(info.value)
    assert "HOPSTREAM_RECEIVER_PORT" in str(info.value)


def _custom(tmp_path: Path) -> Settings:
    """Every field set away from its default (absolute paths: to_env resolves them)."""
    for name in ("cert.pem", "key.pem"):
        (tmp_path / name).write_text("PEM")
    return Settings(
        data_dir=tmp_path / "data",
        offers_file=tmp_path / "offers.yaml",
        kafka_bootstrap_servers="k1:9092,k2:9092",
        kafka_port=19092,
        partitions=3,
        replication_factor=2,
        kafka_idempotence=True,
        rebalance_timeout_s=2.5,
        session_timeout_s=7.25,
        clickhouse_url="http://default:pw@localhost:8123",
        clickhouse_database="hs_test",
        clickhouse_host="0.0.0.0",
        clickhouse_port=18123,
        receiver_host="0.0.0.0",
        receiver_port=18080,
        sink_batch_rows=10,
        sink_batch_seconds=0.1,
        clicks_ttl_days=30,
        conversions_ttl_days=3650,
        postback_issues_ttl_days=7,
        offer_stats_ttl_days=800,
        query_max_result_rows=5000,
        query_max_result_bytes=1024,
        query_max_execution_s=2.5,
        worker_app_id="hopstream-worker-eu",
        late_click_grace_s=1.5,
        click_sweep_s=30.0,
        store_flush_s=60.0,
        log_level="DEBUG",
        receiver_max_body_bytes=4096,
        receiver_max_query_bytes=2048,
        receiver_allowed_ips="203.0.113.0/24,2001:db8::/32",
        receiver_trusted_proxies="10.0.0.1",
        receiver_tls_cert=str(tmp_path / "cert.pem"),
        receiver_tls_key=str(tmp_path / "key.pem"),
        receiver_produce_timeout_s=1.5,
        receiver_linger_ms=9,
        spool_max_bytes=1024 * 1024,
        dashboard_host="0.0.0.0",
        dashboard_port=18081,
        dashboard_refresh_s=2.5,
        simulate_url="http://receiver:8080",
        simulate_rate=55.5,
        simulate_duration_s=12.5,
        simulate_offers="keto=2",
        simulate_funnel="purchase=0.5",
        simulate_faults="duplicate=0.5",
        simulate_seed=42,
    )


def test_custom_settings_cover_every_field(tmp_path: Path) -> None:
    custom, default = _custom(tmp_path), Settings()
    unchanged = [f.name for f in dataclasses.fields(Settings)
                 if getattr(custom, f.name) == getattr(default, f.name)]
    assert unchanged == []


def test_to_env_round_trips(tmp_path: Path) -> None:
    s = _custom(tmp_path)
    assert Settings.from_env(s.to_env()) == s


def test_to_env_round_trips_with_embedded_services(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, kafka_idempotence=False)
    env = s.to_env()
    assert "KAFKA_BOOTSTRAP_SERVERS" not in env
    assert "CLICKHOUSE_URL" not in env
    assert env["HOPSTREAM_KAFKA_IDEMPOTENCE"] == "false"
    assert Settings.from_env(env) == s


def test_to_env_writes_absolute_paths() -> None:
    env = Settings().to_env()
    assert Path(env["HOPSTREAM_DATA_DIR"]).is_absolute()
    assert Path(env["HOPSTREAM_DATA_DIR"]) == Path(".hopstream").resolve()


def test_to_env_of_defaults_rebuilds_the_same_places() -> None:
    s = Settings()
    rebuilt = Settings.from_env(s.to_env())
    assert rebuilt.clickhouse_dsn == s.clickhouse_dsn
    assert rebuilt.data_dir == s.data_dir.resolve()


def test_to_env_of_defaults_round_trips_to_equal_settings() -> None:
    s = Settings()
    assert Settings.from_env(s.to_env()) == s


def test_overrides_win_over_environment() -> None:
    s = Settings.from_env({"HOPSTREAM_RECEIVER_PORT": "9000"}, receiver_port=9100)
    assert s.receiver_port == 9100


def test_none_override_keeps_environment_value() -> None:
    s = Settings.from_env({"HOPSTREAM_RECEIVER_PORT": "9000"}, receiver_port=None)
    assert s.receiver_port == 9000


def test_overrides_are_validated() -> None:
    with pytest.raises(SettingsError, match="HOPSTREAM_RECEIVER_PORT"):
        Settings.from_env({}, receiver_port=0)


def test_replace_ignores_none_and_validates() -> None:
    s = Settings().replace(receiver_port=9001, partitions=None)
    assert (s.receiver_port, s.partitions) == (9001, 8)
    with pytest.raises(SettingsError, match="HOPSTREAM_PARTITIONS"):
        s.replace(partitions=0)


def test_clickhouse_dsn_defaults_to_chdb_in_absolute_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d")
    assert s.clickhouse_dsn == f"chdb://{(tmp_path / 'd' / 'clickhouse').resolve()}"
    assert s.embedded_clickhouse is True


def test_clickhouse_dsn_of_relative_data_dir_is_absolute() -> None:
    dsn = Settings(data_dir=Path("rel/dir")).clickhouse_dsn
    assert dsn.startswith("chdb:///")
    assert Path(dsn.removeprefix("chdb://")) == (Path("rel/dir") / "clickhouse").resolve()


def test_clickhouse_url_is_the_dsn() -> None:
    s = Settings.from_env({"CLICKHOUSE_URL": "http://ch:8123"})
    assert s.clickhouse_dsn == "http://ch:8123"
    assert s.embedded_clickhouse is False


def test_embedded_kafka_when_no_bootstrap_servers() -> None:
    s = Settings.from_env({"HOPSTREAM_KAFKA_PORT": "19092"})
    assert s.embedded_kafka is True
    assert s.bootstrap_servers == "127.0.0.1:19092"


def test_bootstrap_servers_turn_embedded_kafka_off() -> None:
    s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092"})
    assert s.embedded_kafka is False
    assert s.bootstrap_servers == "k1:9092,k2:9092"


def test_describe_lists_every_field() -> None:
    rows = describe()
    assert len(rows) == len(dataclasses.fields(Settings))
    for variable, default, doc in rows:
        assert re.fullmatch(r"(HOPSTREAM|KAFKA|CLICKHOUSE)_[A-Z0-9_]+", variable), variable
        assert doc.strip(), variable
        assert default


def test_describe_variable_names_are_unique() -> None:
    names = [variable for variable, _, _ in describe()]
    assert len(set(names)) == len(names)


def test_describe_variables_are_read_by_from_env(tmp_path: Path) -> None:
    env = _custom(tmp_path).to_env()
    assert set(env) == {variable for variable, _, _ in describe()}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"HOPSTREAM_RECEIVER_ALLOWED_IPS": "203.0.113.0/24,nope"},
         "HOPSTREAM_RECEIVER_ALLOWED_IPS"),
        ({"HOPSTREAM_RECEIVER_TRUSTED_PROXIES": "10.0.0.0/33"},
         "HOPSTREAM_RECEIVER_TRUSTED_PROXIES"),
        ({"HOPSTREAM_RECEIVER_TLS_CERT": "/nonexistent.pem"}, "HOPSTREAM_RECEIVER_TLS_KEY"),
        ({"HOPSTREAM_RECEIVER_TLS_CERT": "/nonexistent.pem",
          "HOPSTREAM_RECEIVER_TLS_KEY": "/nonexistent.key"}, "HOPSTREAM_RECEIVER_TLS_CERT"),
        ({"HOPSTREAM_RECEIVER_MAX_BODY_BYTES": "10"}, "HOPSTREAM_RECEIVER_MAX_BODY_BYTES"),
        ({"HOPSTREAM_SPOOL_MAX_BYTES": "0"}, "HOPSTREAM_SPOOL_MAX_BYTES"),
        ({"HOPSTREAM_RECEIVER_LINGER_MS": "-1"}, "HOPSTREAM_RECEIVER_LINGER_MS"),
        ({"HOPSTREAM_RECEIVER_PRODUCE_TIMEOUT_S": "0"}, "HOPSTREAM_RECEIVER_PRODUCE_TIMEOUT_S"),
    ],
)
def test_receiver_settings_are_validated(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        Settings.from_env(env)


def test_cidr_lists_parse_addresses_and_networks() -> None:
    s = Settings.from_env({"HOPSTREAM_RECEIVER_ALLOWED_IPS": " 203.0.113.7, 2001:db8::/32 ,"})
    assert [str(n) for n in s.allowed_networks] == ["203.0.113.7/32", "2001:db8::/32"]
    assert Settings().allowed_networks == [] and Settings().trusted_proxies == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HOPSTREAM_CLICKS_TTL_DAYS", "-1"), ("HOPSTREAM_QUERY_MAX_RESULT_ROWS", "0"),
     ("HOPSTREAM_QUERY_MAX_RESULT_BYTES", "0"), ("HOPSTREAM_QUERY_MAX_EXECUTION_S", "0")],
)
def test_retention_and_query_limits_are_range_checked(variable: str, value: str) -> None:
    # 0 days keeps rows forever; a negative TTL or an unlimited query endpoint is a mistake.
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


@pytest.mark.parametrize("value", ["", "has space", "slash/name", "x" * 101])
def test_worker_app_id_is_checked(value: str) -> None:
    with pytest.raises(SettingsError, match="HOPSTREAM_WORKER_APP_ID"):
        Settings().replace(worker_app_id=value)
