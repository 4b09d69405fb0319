"""`leaim bench` and its siblings (`bench-ingest`, `-models`, `-drift`, `-abuse`, `-audit`, `-durability`): the stack
measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedded.cli.options import positive

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands


def register(commands: Commands) -> None:
    """Add `bench` and its siblings: `bench-ingest`, `-models`, `-drift`, `-abuse`, `-audit` and `-durability`."""
    bench = commands.add_parser("bench", help="measure the governed decision path against its floors")
    bench.add_argument("--iterations", type=positive, default=2000, help="timed calls per in-process measurement")
    bench.add_argument("--http-requests", type=positive, default=400, help="HTTP requests per concurrency level")
    bench.set_defaults(run=_decisions)
    bench_ingest = commands.add_parser("bench-ingest", help="measure ingestion throughput against validation alone")
    bench_ingest.add_argument("--records", type=positive, default=20_000, help="records per measurement")
    bench_ingest.add_argument("--http-records", type=positive, default=10_000, help="records sent over HTTP")
    bench_ingest.set_defaults(run=_ingestion)
    bench_models = commands.add_parser("bench-models", help="measure training, evaluation, cold load and batching")
    bench_models.add_argument("--rows", type=positive, default=20_000, help="training rows (default: 20000)")
    bench_models.set_defaults(run=_models)
    bench_drift = commands.add_parser("bench-drift", help="time the drift check on a large seeded window")
    bench_drift.add_argument("--rows", type=positive, default=1_000_000, help="live rows (default: 1000000)")
    bench_drift.add_argument("--features", type=positive, default=30, help="model features (default: 30)")
    bench_drift.set_defaults(run=_drift)
    bench_abuse = commands.add_parser(
        "bench-abuse", help="measure abuse detection and its false-alarm rate on seeded ordinary traffic and attacks"
    )
    bench_abuse.add_argument("--windows", type=positive, default=300, help="windows judged (default: 300)")
    bench_abuse.add_argument("--principals", type=positive, default=10, help="ordinary principals (default: 10)")
    bench_abuse.set_defaults(run=_abuse)
    bench_audit = commands.add_parser(
        "bench-audit", help="measure chained audit appends, verification, and the audit writer's drain into PostgreSQL"
    )
    bench_audit.add_argument("--events", type=positive, default=1_000_000, help="events verified (default: 1000000)")
    bench_audit.add_argument("--postgres", help="PostgreSQL server URL (default: the local test database)")
    bench_audit.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    bench_audit.set_defaults(run=_audit)
    bench_durability = commands.add_parser(
        "bench-durability",
        help="measure what keeping the local endpoint's state on disk costs per request and at start",
    )
    bench_durability.add_argument(
        "--requests", type=positive, default=500, help="requests per operation (default: 500)"
    )
    bench_durability.add_argument("--entities", type=positive, default=20_000, help="items to restore (default: 20000)")
    bench_durability.set_defaults(run=_durability)


def _decisions(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.decisions import run_bench

    return run_bench(console, iterations=arguments.iterations, http_requests=arguments.http_requests)


def _ingestion(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.ingestion import run_ingest_bench

    return run_ingest_bench(console, records=arguments.records, http_records=arguments.http_records)


def _models(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.models import run_model_bench

    return run_model_bench(console, rows=arguments.rows)


def _drift(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.drift import run_drift_bench

    return run_drift_bench(console, rows=arguments.rows, features=arguments.features)


def _abuse(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.abuse import run_abuse_bench

    return run_abuse_bench(console, windows=arguments.windows, principals=arguments.principals)


def _durability(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.durability import run_durability_bench

    return run_durability_bench(console, requests=arguments.requests, entities=arguments.entities)


def _audit(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.audit import DEFAULT_POSTGRES, run_audit_bench

    postgres = None if arguments.no_postgres else arguments.postgres or DEFAULT_POSTGRES
    return run_audit_bench(console, events=arguments.events, postgres=postgres)
