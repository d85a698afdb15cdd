"""The one settings object: every knob hopstream has, read from the environment.

Every process (receiver, worker, sink, dev supervisor) builds a `Settings` with
`Settings.from_env()` and passes it down; nothing else reads `os.environ`. Values are
validated here, once, so a typo fails at start with the variable's name in the message
instead of deep inside a client library.

Command-line flags (`hopstream dev --receiver-port ...`) override the environment by
`dataclasses.replace` in the CLI; the dev supervisor hands its settings to the processes
it starts through the same environment variables (`Settings.to_env`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

SAMPLE_OFFERS = Path(__file__).with_name("offers.sample.yaml")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Setting:
    """Metadata attached to each field: its environment variable and documentation."""

    env: str
    doc: str


def _setting(env: str, doc: str, default: Any) -> Any:
    return field(default=default, metadata={"setting": Setting(env, doc)})


@dataclass(frozen=True)
class Settings:
    # --- where things live ------------------------------------------------------------
    data_dir: Path = _setting(
        "HOPSTREAM_DATA_DIR",
        "Directory for local state: the embedded ClickHouse data, the worker's RocksDB "
        "tables, readiness markers.",
        Path(".hopstream"),
    )
    offers_file: Path = _setting(
        "HOPSTREAM_OFFERS", "Offers YAML file (offers and their payout rules).", SAMPLE_OFFERS
    )
    # --- Kafka ------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = _setting(
        "KAFKA_BOOTSTRAP_SERVERS",
        "Kafka cluster (host:port,...). Unset: `hopstream dev` starts the embedded broker.",
        None,
    )
    kafka_port: int = _setting(
        "HOPSTREAM_KAFKA_PORT", "Port of the embedded broker started by `hopstream dev`.", 9092
    )
    partitions: int = _setting(
        "HOPSTREAM_PARTITIONS",
        "Partitions of every hopstream topic. Raw clicks and raw postbacks must have the same "
        "count: the worker joins them through a table, which needs co-partitioning.",
        8,
    )
    replication_factor: int = _setting(
        "HOPSTREAM_REPLICATION_FACTOR", "Replication factor of topics hopstream creates.", 1
    )
    kafka_idempotence: bool = _setting(
        "HOPSTREAM_KAFKA_IDEMPOTENCE",
        "Idempotent producers. Turn on with Apache Kafka; the embedded broker refuses them.",
        False,
    )
    rebalance_timeout_s: float = _setting(
        "HOPSTREAM_REBALANCE_TIMEOUT_S",
        "How long a consumer group waits for its members to rejoin during a rebalance. The "
        "broker holds a first join for this long too, so it bounds start-up time.",
        5.0,
    )
    session_timeout_s: float = _setting(
        "HOPSTREAM_SESSION_TIMEOUT_S",
        "Consumer session timeout: how soon a dead group member's partitions move.",
        10.0,
    )
    # --- ClickHouse -------------------------------------------------------------------
    clickhouse_url: str | None = _setting(
        "CLICKHOUSE_URL",
        "ClickHouse to write to: `http(s)://user:password@host:port` for a server, or "
        "`chdb:///abs/path` for the in-process engine. Unset: chdb in DATA_DIR/clickhouse.",
        None,
    )
    clickhouse_database: str = _setting(
        "HOPSTREAM_CLICKHOUSE_DATABASE", "ClickHouse database holding hopstream's tables.",
        "hopstream",
    )
    clickhouse_host: str = _setting(
        "HOPSTREAM_CLICKHOUSE_HOST",
        "Address the read-only ClickHouse HTTP query interface listens on (embedded engine).",
        "127.0.0.1",
    )
    clickhouse_port: int = _setting(
        "HOPSTREAM_CLICKHOUSE_PORT",
        "Port of the read-only ClickHouse HTTP query interface served for the embedded engine.",
        8123,
    )
    # --- receiver ---------------------------------------------------------------------
    receiver_host: str = _setting(
        "HOPSTREAM_RECEIVER_HOST", "Address the receiver listens on.", "127.0.0.1"
    )
    receiver_port: int = _setting("HOPSTREAM_RECEIVER_PORT", "Receiver HTTP port.", 8080)
    receiver_max_body_bytes: int = _setting(
        "HOPSTREAM_RECEIVER_MAX_BODY_BYTES",
        "Largest request body the receiver reads; a larger one is refused (413, `too_large`).",
        64 * 1024,
    )
    receiver_max_query_bytes: int = _setting(
        "HOPSTREAM_RECEIVER_MAX_QUERY_BYTES",
        "Longest query string the receiver accepts; a longer one is refused (413, `too_large`).",
        8 * 1024,
    )
    receiver_allowed_ips: str = _setting(
        "HOPSTREAM_RECEIVER_ALLOWED_IPS",
        "Comma-separated CIDRs postbacks and INS notifications may come from (403 "
        "`forbidden_ip` otherwise). Empty: any address. Clicks are never restricted.",
        "",
    )
    receiver_trusted_proxies: str = _setting(
        "HOPSTREAM_RECEIVER_TRUSTED_PROXIES",
        "Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed. Empty: "
        "the header is ignored and the peer address is the client.",
        "",
    )
    receiver_tls_cert: str | None = _setting(
        "HOPSTREAM_RECEIVER_TLS_CERT",
        "PEM certificate (chain) file: the receiver serves HTTPS itself. Needs "
        "HOPSTREAM_RECEIVER_TLS_KEY. Unset: plain HTTP behind a TLS-terminating proxy.",
        None,
    )
    receiver_tls_key: str | None = _setting(
        "HOPSTREAM_RECEIVER_TLS_KEY", "PEM private key file of HOPSTREAM_RECEIVER_TLS_CERT.", None
    )
    receiver_produce_timeout_s: float = _setting(
        "HOPSTREAM_RECEIVER_PRODUCE_TIMEOUT_S",
        "How long a request waits for the broker's acknowledgement before the message goes to "
        "the spool instead (and the following ones go there directly until the broker is back).",
        3.0,
    )
    receiver_linger_ms: int = _setting(
        "HOPSTREAM_RECEIVER_LINGER_MS",
        "How long the receiver's producer waits to gather concurrent messages into one produce "
        "request. Longer: less CPU per message under load, more latency per request.",
        5,
    )
    spool_max_bytes: int = _setting(
        "HOPSTREAM_SPOOL_MAX_BYTES",
        "Bound of the receiver's spool journal (DATA_DIR/spool): messages accepted while the "
        "broker is unreachable. When full, requests are answered 503 with Retry-After.",
        256 * 1024 * 1024,
    )
    # --- sink -------------------------------------------------------------------------
    sink_batch_rows: int = _setting(
        "HOPSTREAM_SINK_BATCH_ROWS", "The sink writes a batch once it holds this many rows.",
        50_000,
    )
    sink_batch_seconds: float = _setting(
        "HOPSTREAM_SINK_BATCH_SECONDS",
        "... or once its oldest row has waited this long, whichever comes first.",
        1.0,
    )
    # --- ClickHouse retention (applied as table TTLs by the sink and `hopstream migrate`) --
    clicks_ttl_days: int = _setting(
        "HOPSTREAM_CLICKS_TTL_DAYS",
        "Days clicks are kept (by click time); 0 keeps them forever. Click counts stay in "
        "offer_stats_hourly.",
        400,
    )
    conversions_ttl_days: int = _setting(
        "HOPSTREAM_CONVERSIONS_TTL_DAYS",
        "Days conversions are kept (by conversion time); 0 keeps them forever.",
        0,
    )
    postback_issues_ttl_days: int = _setting(
        "HOPSTREAM_POSTBACK_ISSUES_TTL_DAYS",
        "Days postback issues and sink rejects are kept; 0 keeps them forever.",
        180,
    )
    offer_stats_ttl_days: int = _setting(
        "HOPSTREAM_OFFER_STATS_TTL_DAYS",
        "Days of offer_stats_hourly kept; 0 keeps them forever.",
        0,
    )
    # --- read-only query interface (embedded ClickHouse) ----------------------------------
    query_max_result_rows: int = _setting(
        "HOPSTREAM_QUERY_MAX_RESULT_ROWS",
        "Most rows one query of the read-only interface may return (clients may lower it). "
        "Keep it above a few thousand: clickhouse-connect's HTTP client reads system.settings "
        "when it connects.",
        1_000_000,
    )
    query_max_result_bytes: int = _setting(
        "HOPSTREAM_QUERY_MAX_RESULT_BYTES",
        "Most bytes one query result may hold (it is held in memory before it is sent).",
        256 * 1024 * 1024,
    )
    query_max_execution_s: float = _setting(
        "HOPSTREAM_QUERY_MAX_EXECUTION_S",
        "Longest a query of the read-only interface may run (queries run one at a time).",
        30.0,
    )
    # --- worker -----------------------------------------------------------------------
    worker_app_id: str = _setting(
        "HOPSTREAM_WORKER_APP_ID",
        "The worker's application id: it names the workers' consumer group and their internal "
        "topics (table changelogs, ticks). Pipelines sharing one Kafka cluster need different "
        "ids; changing it on a running pipeline starts its state afresh.",
        "hopstream-worker",
    )
    late_click_grace_s: float = _setting(
        "HOPSTREAM_LATE_CLICK_GRACE_S",
        "How long a postback waits for what it needs and has not reached the worker yet: "
        "its click, its offer, or (a refund or chargeback) the sale it reverses; then it "
        "becomes issue `unknown_click`, `unknown_offer` or `nothing_to_reverse`. Counted "
        "in clicks the worker has read (their publish times), not in its wall clock.",
        600.0,
    )
    store_flush_s: float = _setting(
        "HOPSTREAM_STORE_FLUSH_S",
        "How often, while it writes, the worker writes its RocksDB tables to disk. They keep "
        "no write-ahead log (their changelog topics make every write durable): after a crash "
        "a table holds what was written to disk, and the restart replays its changelog from "
        "there, so this bounds how much a restart replays.",
        300.0,
    )
    click_sweep_s: float = _setting(
        "HOPSTREAM_CLICK_SWEEP_S",
        "How often the worker deletes clicks (and their receipt ledgers) older than the "
        "longest attribution window of any offer, plus one day; a click whose credit is not "
        "fully reversed stays until its ledger has been quiet for 180 days, so a late "
        "refund or chargeback still finds it.",
        3600.0,
    )
    # --- dashboard ----------------------------------------------------------------------
    dashboard_host: str = _setting(
        "HOPSTREAM_DASHBOARD_HOST",
        "Address the live dashboard (`hopstream dashboard`) listens on.",
        "127.0.0.1",
    )
    dashboard_port: int = _setting("HOPSTREAM_DASHBOARD_PORT", "Live dashboard HTTP port.", 8081)
    dashboard_refresh_s: float = _setting(
        "HOPSTREAM_DASHBOARD_REFRESH_S", "How often the dashboard page reloads its numbers.", 5.0
    )
    # --- traffic simulator (`hopstream simulate`, `hopstream dev --simulate`) -----------
    simulate_url: str = _setting(
        "HOPSTREAM_SIMULATE_URL",
        "Receiver the simulator sends to. Empty: http://HOPSTREAM_RECEIVER_HOST:PORT.",
        "",
    )
    simulate_rate: float = _setting(
        "HOPSTREAM_SIMULATE_RATE", "Simulated clicks per second (postbacks follow the funnel).",
        10.0,
    )
    simulate_duration_s: float = _setting(
        "HOPSTREAM_SIMULATE_DURATION_S", "How long the simulator sends new clicks.", 120.0
    )
    simulate_offers: str = _setting(
        "HOPSTREAM_SIMULATE_OFFERS",
        "Offer mix as `id=weight,...` (e.g. `keto=1,glucoguard=3`). Empty: every offer of "
        "the offers file, equally.",
        "",
    )
    simulate_funnel: str = _setting(
        "HOPSTREAM_SIMULATE_FUNNEL",
        "Funnel probabilities: `impression` (a click reaches the order form), `purchase` "
        "(an order form visit buys), and per purchase `upsell`, `rebill` (each of two "
        "rebills) and `refund`.",
        "impression=0.35,purchase=0.3,upsell=0.35,rebill=0.4,refund=0.1",
    )
    simulate_faults: str = _setting(
        "HOPSTREAM_SIMULATE_FAULTS",
        "What real traffic gets wrong, as probabilities: `duplicate` (a postback retried), "
        "and per click `macro` (unsubstituted macro), `bad_token`, `unknown_click`, "
        "`too_large`, `ins_test` (INS test notification); `ins`: share of sales, rebills "
        "and refunds reported by INS instead of a postback (offers file accounts).",
        "duplicate=0.05,macro=0.01,bad_token=0.01,unknown_click=0.01,too_large=0.005,"
        "ins=0.3,ins_test=0.005",
    )
    simulate_seed: int = _setting(
        "HOPSTREAM_SIMULATE_SEED", "Random seed of the simulator; 0 picks one (printed).", 0
    )
    # --- logging ----------------------------------------------------------------------
    log_level: str = _setting("HOPSTREAM_LOG_LEVEL", "Log level (DEBUG, INFO, WARNING).", "INFO")

    def __post_init__(self) -> None:
        # Absolute paths, so settings handed to child processes mean the same files.
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        object.__setattr__(self, "offers_file", Path(self.offers_file).resolve())
        problems: list[str] = []
        for name, low in (
            ("kafka_port", 1),
            ("clickhouse_port", 1),
            ("receiver_port", 1),
            ("partitions", 1),
            ("replication_factor", 1),
            ("sink_batch_rows", 1),
            ("receiver_max_body_bytes", 1024),
            ("receiver_max_query_bytes", 1024),
            ("spool_max_bytes", 64 * 1024),
            ("clicks_ttl_days", 0),
            ("conversions_ttl_days", 0),
            ("postback_issues_ttl_days", 0),
            ("offer_stats_ttl_days", 0),
            ("query_max_result_rows", 1),
            ("query_max_result_bytes", 1),
            ("receiver_linger_ms", 0),
            ("dashboard_port", 1),
            ("simulate_seed", 0),
        ):
            if getattr(self, name) < low:
                problems.append(f"{_env(name)} must be >= {low}, got {getattr(self, name)}")
        for name in ("rebalance_timeout_s", "session_timeout_s", "sink_batch_seconds",
                     "receiver_produce_timeout_s", "store_flush_s",
                     "query_max_execution_s", "late_click_grace_s", "click_sweep_s",
                     "dashboard_refresh_s", "simulate_rate", "simulate_duration_s"):
            if getattr(self, name) <= 0:
                problems.append(f"{_env(name)} must be > 0, got {getattr(self, name)}")
        if self.clickhouse_url is not None and not self.clickhouse_url.startswith(
            ("chdb://", "http://", "https://")
        ):
            problems.append(
                f"CLICKHOUSE_URL must start with chdb://, http:// or https://, "
                f"got {self.clickhouse_url!r}"
            )
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", self.worker_app_id):
            problems.append(
                f"HOPSTREAM_WORKER_APP_ID must be 1-100 letters, digits, `.`, `_` or `-`, "
                f"got {self.worker_app_id!r}"
            )
        if not self.clickhouse_database.isidentifier():
            problems.append(
                f"HOPSTREAM_CLICKHOUSE_DATABASE must be a plain identifier, "
                f"got {self.clickhouse_database!r}"
            )
        problems.extend(_receiver_problems(self))
        problems.extend(_simulate_problems(self))
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append(f"HOPSTREAM_LOG_LEVEL must be DEBUG/INFO/WARNING/ERROR, got "
                            f"{self.log_level!r}")
        if problems:
            raise SettingsError("; ".join(problems))

    # --- derived values -----------------------------------------------------------------
    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is None

    @property
    def bootstrap_servers(self) -> str:
        if self.kafka_bootstrap_servers is None:
            return f"127.0.0.1:{self.kafka_port}"
        return self.kafka_bootstrap_servers

    @property
    def clickhouse_dsn(self) -> str:
        if self.clickhouse_url is not None:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_dsn.startswith("chdb://")

    @property
    def run_dir(self) -> Path:
        """Readiness markers of the processes `hopstream dev` supervises."""
        return self.data_dir / "run"

    @property
    def worker_dir(self) -> Path:
        return self.data_dir / "worker"

    @property
    def spool_dir(self) -> Path:
        """The receiver's spool journal: what it acknowledged while the broker was away."""
        return self.data_dir / "spool"

    @property
    def receiver_url(self) -> str:
        """Where the simulator sends traffic."""
        if self.simulate_url:
            return self.simulate_url.rstrip("/")
        host = "127.0.0.1" if self.receiver_host in ("0.0.0.0", "::") else self.receiver_host
        scheme = "https" if self.receiver_tls_cert else "http"
        return f"{scheme}://{host}:{self.receiver_port}"

    @property
    def allowed_networks(self) -> list[IPNetwork]:
        return parse_cidrs(self.receiver_allowed_ips)

    @property
    def trusted_proxies(self) -> list[IPNetwork]:
        return parse_cidrs(self.receiver_trusted_proxies)

    # --- environment round trip -----------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            meta: Setting = f.metadata["setting"]
            raw = env.get(meta.env)
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(meta.env, raw, f.default)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that makes `Settings.from_env()` rebuild these settings."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            meta: Setting = f.metadata["setting"]
            if isinstance(value, bool):
                out[meta.env] = "true" if value else "false"
            else:
                out[meta.env] = str(value)
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, doc) for every setting: the configuration reference."""
    return [
        (f.metadata["setting"].env, repr(f.default), f.metadata["setting"].doc)
        for f in fields(Settings)
    ]


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidrs(text: str) -> list[IPNetwork]:
    """`"203.0.113.0/24, 2001:db8::/32, 198.51.100.7"` -> networks; ValueError names the bad one."""
    networks: list[IPNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
    return networks


def _receiver_problems(s: Settings) -> list[str]:
    problems: list[str] = []
    for name in ("receiver_allowed_ips", "receiver_trusted_proxies"):
        try:
            parse_cidrs(getattr(s, name))
        except ValueError as exc:
            problems.append(f"{_env(name)}: {exc}")
    if (s.receiver_tls_cert is None) != (s.receiver_tls_key is None):
        problems.append("HOPSTREAM_RECEIVER_TLS_CERT and HOPSTREAM_RECEIVER_TLS_KEY go together: "
                        "set both to serve HTTPS, or neither")
    for name in ("receiver_tls_cert", "receiver_tls_key"):
        path = getattr(s, name)
        if path is not None and not Path(path).is_file():
            problems.append(f"{_env(name)}: no such file {path!r}")
    return problems


FUNNEL_STEPS = ("impression", "purchase", "upsell", "rebill", "refund")
FAULT_KINDS = ("duplicate", "macro", "bad_token", "unknown_click", "too_large", "ins", "ins_test")


def parse_weights(text: str) -> dict[str, float]:
    """`"a=1,b=0.5"` -> {"a": 1.0, "b": 0.5}; ValueError names the bad item."""
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            weight = float("nan")
        if not name.strip() or not weight >= 0:
            raise ValueError(f"{item!r} is not name=number (a number >= 0)")
        weights[name.strip()] = weight
    return weights


def _simulate_problems(s: Settings) -> list[str]:
    problems: list[str] = []
    for name, known in (("simulate_offers", None), ("simulate_funnel", FUNNEL_STEPS),
                        ("simulate_faults", FAULT_KINDS)):
        try:
            weights = parse_weights(getattr(s, name))
        except ValueError as exc:
            problems.append(f"{_env(name)}: {exc}")
            continue
        if known is None:
            if weights and not sum(weights.values()) > 0:
                problems.append(f"{_env(name)}: at least one weight must be > 0")
            continue
        for key, value in weights.items():
            if key not in known:
                problems.append(f"{_env(name)}: unknown {key!r} (known: {', '.join(known)})")
            elif value > 1:
                problems.append(f"{_env(name)}: {key} is a probability (0..1), got {value}")
    if s.simulate_url and not s.simulate_url.startswith(("http://", "https://")):
        problems.append(f"HOPSTREAM_SIMULATE_URL must start with http:// or https://, "
                        f"got {s.simulate_url!r}")
    return problems


def _env(name: str) -> str:
    for f in fields(Settings):
        if f.name == name:
            env: str = f.metadata["setting"].env
            return env
    return name


def _parse(env: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise SettingsError(f"{env}={raw!r}: {exc}") from None
