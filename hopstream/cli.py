"""The `hopstream` command: one subcommand per process kind, plus operations.

Flags override the environment (see `hopstream.settings`); everything else is configured
through HOPSTREAM_* variables, KAFKA_BOOTSTRAP_SERVERS and CLICKHOUSE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from hopstream.logs import setup_logging
from hopstream.offers import OffersError, load_offers
from hopstream.settings import Settings, SettingsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hopstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="HOPSTREAM_DATA_DIR")
    common.add_argument("--offers", type=Path, help="offers YAML file (HOPSTREAM_OFFERS)")

    dev = sub.add_parser("dev", parents=[common],
                         help="run broker, receiver, worker and sink together")
    dev.add_argument("--receiver-port", type=int, help="HOPSTREAM_RECEIVER_PORT (8080)")
    dev.add_argument("--clickhouse-port", type=int, help="HOPSTREAM_CLICKHOUSE_PORT (8123)")
    dev.add_argument("--kafka-port", type=int, help="HOPSTREAM_KAFKA_PORT (9092)")
    dev.add_argument("--dashboard-port", type=int, help="HOPSTREAM_DASHBOARD_PORT (8081)")
    dev.add_argument("--simulate", action="store_true",
                     help="once ready, also run `hopstream simulate` (HOPSTREAM_SIMULATE_*)")

    receiver = sub.add_parser("receiver", parents=[common], help="run the HTTP receiver")
    receiver.add_argument("--receiver-port", type=int)
    sub.add_parser("worker", parents=[common], help="run the stream worker (Faust)")
    sink = sub.add_parser("sink", parents=[common], help="run the ClickHouse sink")
    sink.add_argument("--clickhouse-port", type=int)

    dashboard = sub.add_parser("dashboard", parents=[common],
                               help="serve the live dashboard (reads ClickHouse over HTTP)")
    dashboard.add_argument("--dashboard-port", type=int)
    dashboard.add_argument("--clickhouse-port", type=int)
    simulate = sub.add_parser("simulate", parents=[common],
                              help="send realistic ClickBank traffic to a running receiver")
    simulate.add_argument("--url", help="receiver URL (HOPSTREAM_SIMULATE_URL)")
    simulate.add_argument("--receiver-port", type=int)
    simulate.add_argument("--rate", type=float, help="clicks/s (HOPSTREAM_SIMULATE_RATE)")
    simulate.add_argument("--duration", type=float,
                          help="seconds (HOPSTREAM_SIMULATE_DURATION_S)")
    simulate.add_argument("--mix", help="offer mix id=weight,... (HOPSTREAM_SIMULATE_OFFERS)")
    simulate.add_argument("--funnel", help="HOPSTREAM_SIMULATE_FUNNEL")
    simulate.add_argument("--faults", help="HOPSTREAM_SIMULATE_FAULTS")
    simulate.add_argument("--seed", type=int, help="HOPSTREAM_SIMULATE_SEED")
    simulate.add_argument("--summary-json", type=Path,
                          help="also write the expected totals to this file")

    migrate = sub.add_parser("migrate", parents=[common], help="apply ClickHouse migrations")
    migrate.add_argument("--status", action="store_true", help="only show what is applied")
    sub.add_parser("topics", parents=[common], help="create missing Kafka topics")
    schemas = sub.add_parser("schemas", help="check or rewrite schemas/json from the models")
    schemas.add_argument("--write", action="store_true")
    docs = sub.add_parser("docs", help="check or rewrite the generated docs/ references")
    docs.add_argument("--write", action="store_true")
    sub.add_parser("check-offers", parents=[common], help="validate the offers file")
    offers = sub.add_parser("offers", parents=[common], help="publish offers to the workers")
    offers_sub = offers.add_subparsers(dest="offers_command", required=True)
    apply = offers_sub.add_parser(
        "apply", help="validate FILE and publish its offers to the hopstream.offers topic")
    apply.add_argument("file", type=Path, help="offers YAML file")
    apply.add_argument("--prune", action="store_true",
                       help="also remove published offers that FILE does not list")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=getattr(args, "data_dir", None),
        offers_file=getattr(args, "offers", None),
        receiver_port=getattr(args, "receiver_port", None),
        clickhouse_port=getattr(args, "clickhouse_port", None),
        kafka_port=getattr(args, "kafka_port", None),
        dashboard_port=getattr(args, "dashboard_port", None),
        simulate_url=getattr(args, "url", None),
        simulate_rate=getattr(args, "rate", None),
        simulate_duration_s=getattr(args, "duration", None),
        simulate_offers=getattr(args, "mix", None),
        simulate_funnel=getattr(args, "funnel", None),
        simulate_faults=getattr(args, "faults", None),
        simulate_seed=getattr(args, "seed", None),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args) if args.command not in ("schemas", "docs") else None
    except SettingsError as exc:
        print(f"hopstream: configuration error: {exc}", file=sys.stderr)
        return 2
    if settings is not None:
        # Under `hopstream dev` every line says which process printed it.
        setup_logging(settings.log_level, prefix=f"{'dev':<8}| " if args.command == "dev" else "")
    try:
        return _run(args, settings)
    except OffersError as exc:
        print(f"hopstream: offers file error:\n{exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"hopstream: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings | None) -> int:
    command = args.command
    if command == "schemas":
        return _schemas(write=args.write)
    if command == "docs":
        return _docs(write=args.write)
    assert settings is not None
    if command == "check-offers":
        offers = load_offers(settings.offers_file)
        from hopstream.receiver_sections import load_receiver_sections

        sections = load_receiver_sections(settings.offers_file, offers)
        print(f"{settings.offers_file}: {len(offers)} offers OK: {', '.join(offers)}; "
              f"{len(sections.accounts)} ClickBank INS account(s)")
        return 0
    if command == "dev":
        load_offers(settings.offers_file)  # fail before starting anything
        from hopstream.dev import run_dev

        return asyncio.run(run_dev(settings, simulate=args.simulate))
    if command == "simulate":
        from simulator.run import run_simulation

        return asyncio.run(run_simulation(settings, args.summary_json))
    if command == "dashboard":
        from services.dashboard.app import run_dashboard

        asyncio.run(run_dashboard(settings))
        return 0
    if command in ("receiver", "worker", "sink", "topics", "offers") and settings.embedded_kafka:
        print("hopstream: set KAFKA_BOOTSTRAP_SERVERS (or use `hopstream dev`, which starts "
              "an embedded broker)", file=sys.stderr)
        return 2
    if command == "receiver":
        from services.receiver.app import run_receiver

        asyncio.run(run_receiver(settings))
    elif command == "worker":
        from services.kafka.admin import ensure_topics
        from streams.worker import run_worker

        asyncio.run(ensure_topics(settings))
        run_worker(settings)
    elif command == "sink":
        from services.sink.run import run_sink

        asyncio.run(run_sink(settings))
    elif command == "topics":
        from services.kafka.admin import ensure_topics

        for name, partitions in asyncio.run(ensure_topics(settings)).items():
            print(f"{name}: {partitions} partitions")
    elif command == "migrate":
        return _migrate(settings, status_only=args.status)
    elif command == "offers":
        return _apply_offers(settings, args.file, prune=args.prune)
    return 0


def _apply_offers(settings: Settings, path: Path, prune: bool) -> int:
    from services.kafka.admin import ensure_topics
    from streams.offers_apply import apply_offers

    offers = load_offers(path)  # every problem reported before anything is published
    asyncio.run(ensure_topics(settings))
    result = asyncio.run(apply_offers(settings, offers, prune=prune))
    for label, ids in (("published", result.written), ("unchanged", result.unchanged),
                       ("retired", result.retired)):
        if ids:
            print(f"{label}: {', '.join(ids)}")
    return 0


def _migrate(settings: Settings, status_only: bool) -> int:
    from services.clickhouse import migrate
    from services.clickhouse.client import make_client
    from services.clickhouse.retention import apply_retention

    client = make_client(settings)
    if not status_only:
        applied = migrate.migrate(client, settings.clickhouse_database)
        print(f"applied {len(applied)} migration(s)")
        for change in apply_retention(client, settings):
            print(f"retention: {change}")
    for line in migrate.status(client, settings.clickhouse_database):
        print(line)
    return 0


def _schemas(write: bool) -> int:
    from schemas.registry import stale_schema_files, write_schema_files

    if write:
        for path in write_schema_files():
            print(f"wrote {path}")
        return 0
    stale = stale_schema_files()
    if stale:
        print(f"stale: {', '.join(stale)} (run `hopstream schemas --write`)", file=sys.stderr)
        return 1
    print("schemas/json is up to date")
    return 0


def _docs(write: bool) -> int:
    from hopstream.reference.generate import stale_documents, write_documents

    if write:
        for path in write_documents():
            print(f"wrote {path}")
        return 0
    stale = stale_documents()
    if stale:
        print(f"stale: {', '.join(f'docs/{name}' for name in stale)} "
              "(run `hopstream docs --write`)", file=sys.stderr)
        return 1
    print("docs/ references are up to date")
    return 0
