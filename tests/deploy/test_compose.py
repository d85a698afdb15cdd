"""docker-compose.yml, checked without Docker: every hopstream service's environment
against the settings object, pinned images, start order, the production invariants
(idempotence, replication, co-partitioning room), TLS proxy wiring and secrets."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from typing import Any

import pytest

from hopstream.offers import load_offers
from hopstream.receiver_sections import load_receiver_sections
from hopstream.settings import Settings
from tests.deploy import compose

SETTING_VARIABLES = {f.metadata["setting"].env for f in fields(Settings)}
# What every hopstream process must agree on: one cluster, one database, one topic layout.
SHARED = ("kafka_bootstrap_servers", "clickhouse_url", "clickhouse_database", "partitions",
          "replication_factor", "kafka_idempotence")


def by_command(command: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose.hopstream_services().items()
            if compose.command_of(s) == command}


def kafka_nodes() -> dict[str, dict[str, str]]:
    return {n: compose.environment(s) for n, s in compose.services().items()
            if str(s.get("image", "")).startswith("apache/kafka:")}


def settings_of(service: dict[str, Any]) -> Settings:
    return Settings.from_env(compose.environment(service))


def test_every_variable_the_file_uses_is_in_the_env_template() -> None:
    used = {v for s in compose.strings(compose.raw()) for v in compose.variables_used(s)}
    assert used, "expected secrets to come from .env"
    assert used <= set(compose.env_example()), sorted(used - set(compose.env_example()))


def test_every_process_kind_runs() -> None:
    kinds = {compose.command_of(s) for s in compose.hopstream_services().values()}
    assert kinds == compose.HOPSTREAM_COMMANDS
    assert len(by_command("receiver")) == 2
    assert len(by_command("worker")) == 2
    assert len(by_command("sink")) == 1


@pytest.mark.parametrize("name", sorted(compose.hopstream_services()))
def test_hopstream_environment_is_made_of_settings(name: str) -> None:
    service = compose.hopstream_services()[name]
    unknown = set(compose.environment(service)) - SETTING_VARIABLES
    assert not unknown, f"{name}: not hopstream settings (typo?): {sorted(unknown)}"
    settings_of(service)  # validates every value as the process would at start


def test_hopstream_services_agree_on_cluster_database_and_topics() -> None:
    seen = {name: tuple(getattr(settings_of(s), f) for f in SHARED)
            for name, s in compose.hopstream_services().items()}
    # The dashboard reads the same server as its own read-only user (the next test).
    dashboard = seen.pop("dashboard")
    assert len(set(seen.values())) == 1, seen
    writer = dict(zip(SHARED, next(iter(seen.values())), strict=True))
    reader = dict(zip(SHARED, dashboard, strict=True))

    def server(settings: dict[str, Any]) -> str:  # the URL without its login
        return re.sub(r"//[^@/]*@", "//", settings.pop("clickhouse_url"))

    assert server(reader) == server(writer)
    assert reader == writer


def test_dashboard_reads_as_the_read_only_user_on_loopback_only() -> None:
    (service,) = by_command("dashboard").values()
    settings = settings_of(service)
    password = compose.env_example()["DASHBOARD_CLICKHOUSE_PASSWORD"]
    assert settings.clickhouse_url == f"http://dashboard:{password}@clickhouse:8123"
    users = (compose.ROOT / "deploy" / "clickhouse" / "users.d" / "dashboard.xml").read_text()
    assert '<password from_env="DASHBOARD_CLICKHOUSE_PASSWORD"/>' in users
    assert "<readonly>2</readonly>" in users
    assert f"GRANT SELECT ON {settings.clickhouse_database}.*" in users
    clickhouse = compose.services()["clickhouse"]
    assert "DASHBOARD_CLICKHOUSE_PASSWORD" in compose.environment(clickhouse)
    assert any(v.startswith("./deploy/clickhouse/users.d/dashboard.xml:")
               for v in clickhouse["volumes"])
    # No login of its own: never on a public interface (the ports test checks the rest).
    assert service["ports"] == [f"127.0.0.1:{settings.dashboard_port}:{settings.dashboard_port}"]
    assert settings.dashboard_host == "0.0.0.0"  # reachable from the published port


def test_production_kafka_settings() -> None:
    settings = settings_of(next(iter(by_command("topics").values())))
    nodes = kafka_nodes()
    assert settings.kafka_idempotence is True
    assert settings.replication_factor == len(nodes) == 3
    for env in nodes.values():
        # acks=all must survive one node down: fewer required in-sync replicas than copies.
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == settings.replication_factor - 1
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # Room for every worker and sink to own partitions.
    assert settings.partitions >= max(len(by_command("worker")), len(by_command("sink")))


def test_kafka_nodes_form_one_kraft_cluster_the_clients_know() -> None:
    nodes = kafka_nodes()
    voters = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in nodes.items()}
    for env in nodes.values():
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert len({env["CLUSTER_ID"] for env in nodes.values()}) == 1
    advertised = {env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
                  for env in nodes.values()}
    bootstrap = settings_of(next(iter(compose.hopstream_services().values())))
    assert set(bootstrap.bootstrap_servers.split(",")) == advertised


@pytest.mark.parametrize("name", sorted(compose.services()))
def test_images_are_pinned(name: str) -> None:
    service = compose.services()[name]
    image = str(service.get("image", ""))
    if "build" in service:
        assert image.startswith("hopstream:") and not image.endswith(":latest")
        return
    assert re.search(r":\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$", image), (
        f"{name}: pin {image!r} to a full version")


def test_grafana_plugin_is_pinned() -> None:
    env = compose.environment(compose.services()["grafana"])
    assert re.fullmatch(r"grafana-clickhouse-datasource@\d+\.\d+\.\d+",
                        env["GF_PLUGINS_PREINSTALL_SYNC"])


def test_start_order() -> None:
    def after(name: str) -> dict[str, str]:
        depends = compose.services()[name].get("depends_on", {})
        return {k: v["condition"] for k, v in depends.items()}

    assert after("topics") == {n: "service_healthy" for n in kafka_nodes()}
    assert after("migrate") == {"clickhouse": "service_healthy"}
    assert after("offers") == {"topics": "service_completed_successfully"}
    for name in by_command("receiver"):
        assert after(name) == {"topics": "service_completed_successfully"}
    # Workers price with the published offers: they start once the file is on the topic.
    for name in by_command("worker"):
        assert after(name) == {"topics": "service_completed_successfully",
                               "offers": "service_completed_successfully"}
    assert after("sink") == {"topics": "service_completed_successfully",
                             "migrate": "service_completed_successfully"}
    assert after("dashboard") == {"migrate": "service_completed_successfully"}
    assert compose.services()["offers"]["command"] == [
        "hopstream", "offers", "apply", "/run/secrets/offers"]
    for one_shot in ("topics", "offers", "migrate"):
        assert compose.services()[one_shot]["restart"] == "no"


def test_receivers_and_workers_each_own_their_data_dir() -> None:
    declared = set(compose.load()["volumes"])
    mounts = []
    for name, service in {**by_command("receiver"), **by_command("worker")}.items():
        data_dir = str(settings_of(service).data_dir)
        volume = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == data_dir]
        assert volume, f"{name}: {data_dir} is not on a volume (the spool/tables would be lost)"
        mounts.append(volume[0])
    assert len(mounts) == len(set(mounts))
    assert set(mounts) <= declared


def test_receivers_trust_only_the_tls_proxy() -> None:
    caddy = compose.services()["caddy"]
    address = ipaddress.ip_address(caddy["networks"]["hopstream"]["ipv4_address"])
    subnet = compose.load()["networks"]["hopstream"]["ipam"]["config"][0]["subnet"]
    assert address in ipaddress.ip_network(subnet)
    for name, service in by_command("receiver").items():
        trusted = settings_of(service).trusted_proxies
        assert trusted == [ipaddress.ip_network(f"{address}/32")], name
    # Only the proxy is published on the public interfaces.
    for name, service in compose.services().items():
        for port in service.get("ports", []):
            assert name == "caddy" or str(port).startswith("127.0.0.1:"), (name, port)


def test_proxy_forwards_to_every_receiver() -> None:
    caddyfile = (compose.ROOT / "deploy" / "caddy" / "Caddyfile").read_text()
    upstreams = set(re.search(r"reverse_proxy ([^{]+)\{", caddyfile).group(1).split())  # type: ignore[union-attr]
    expected = {f"{name}:{settings_of(s).receiver_port}"
                for name, s in by_command("receiver").items()}
    assert upstreams == expected
    assert "health_uri /readyz" in caddyfile
    assert "/metrics" not in re.search(r"@public path (.+)", caddyfile).group(1)  # type: ignore[union-attr]


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in compose.raw()["services"].items():
        for key, value in compose.environment(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key) or key == "CLICKHOUSE_URL":
                assert "${" in value, f"{name}: {key} must come from .env"


def test_secret_files_have_templates_and_are_not_committed() -> None:
    gitignore = (compose.ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in gitignore
    for secret in compose.load()["secrets"].values():
        path = (compose.ROOT / secret["file"]).resolve()
        assert path.with_name(path.name + ".example").is_file()
        assert f"{path.parent.relative_to(compose.ROOT)}/*" in gitignore


def test_offers_template_is_a_valid_offers_file() -> None:
    template = compose.ROOT / "deploy" / "secrets" / "offers.yaml.example"
    offers = load_offers(template)
    sections = load_receiver_sections(template, offers)
    assert offers and sections.accounts


def test_mounted_files_exist() -> None:
    for name, service in compose.services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (compose.ROOT / source).exists(), f"{name}: {source} is missing"
