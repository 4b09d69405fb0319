"""The `leaim` command: the embedded default, the benchmarks, and a client of the ingestion and lifecycle APIs.

`up` and `demo` run the local stack and `bench`, `bench-ingest`, `bench-models` and `bench-drift` measure it; `ingest`,
`quarantine`, `snapshot` and `snapshots` call the ingestion API, `train`, `retrain`, `models`, `traffic`,
`promote` and `rollback` the lifecycle API, and `governance report`, `outcome`, `reviews`, `review`, `drift`,
`bias`, `quality`, `alerts`, `usage` and `audit export` the governance API, local or deployed; `audit verify`
and `audit digest` check and seal the tamper-evident audit trail and `bench-audit` measures it; `sample-data`
writes records to try them on.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from contracts.ingest.v1 import MAX_BATCH_RECORDS
from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from contracts.ingest.v1 import IngestReport, QuarantineEntry, SnapshotManifest
    from contracts.model.v1 import ModelVersionView, TrafficPolicy, TrainingJob
    from embedded.clients.http import GovernanceClient, IngestClient, LifecycleClient, RecordFormat
    from embedded.synthetic import Card
    from embedded.world import LocalWorld
    from leaim.governance.audit.ports import DigestArchive

# Quarantine entries shown after an ingestion or a replay; `leaim quarantine` lists them all.
SHOWN_QUARANTINE = 10
SAMPLE_USE_CASE = "card_fraud"
SAMPLE_MODEL = "card-fraud"
JOB_POLL_S = 0.5
# A large store's chains are verified by this many processes at once: one per core, up to four.
VERIFY_WORKERS = min(os.cpu_count() or 1, 4)
# The commands that call the governance API (and `audit export`, a subcommand of `audit`).
GOVERNANCE_COMMANDS = ("governance", "outcome", "reviews", "review", "drift", "bias", "quality", "alerts", "usage")


class ApiUsageError(LeaimError):
    """The command's arguments do not make a call."""


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is not at least {minimum}")
    return value


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole_number(text, 1)


def _count(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole_number(text, 0)


def _batch_size(text: str) -> int:
    """An argparse type: records per request, 1 to the API's limit."""
    value = _positive(text)
    if value > MAX_BATCH_RECORDS:
        raise argparse.ArgumentTypeError(f"{value} is more than the {MAX_BATCH_RECORDS} records a request may carry")
    return value


def _instant(text: str) -> datetime:
    """An argparse type: an ISO 8601 time with a UTC offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time with an offset, e.g. 2026-11-23T00:00:00Z")
    return moment


def _param(text: str) -> tuple[str, float | int | str | bool]:
    """An argparse type: `NAME=VALUE`, the value read as a whole number, a number, true/false or text."""
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    value: float | int | str | bool = raw
    if raw in ("true", "false"):
        value = raw == "true"
    elif re.fullmatch(r"[+-]?\d+", raw):
        value = int(raw)
    else:
        with contextlib.suppress(ValueError):
            value = float(raw)
    return name, value


def _api_options(command: argparse.ArgumentParser, role: str) -> None:
    """`--api-url` and `--api-key`, defaulting to the local stack's URL and its `role` key."""
    command.add_argument("--api-url", help="API base URL (default: the local stack's, from --state-dir)")
    command.add_argument("--api-key", help=f"API key (default: the local stack's {role} key)")
    command.set_defaults(role=role)


def _lifecycle_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that call the lifecycle API."""
    train = commands.add_parser("train", help="train a model version on a dataset snapshot, with a progress bar")
    train.add_argument("--snapshot", required=True, help="snapshot id to train on (see `leaim snapshots DATASET`)")
    train.add_argument("--model", default=SAMPLE_MODEL, help=f"model name (default: {SAMPLE_MODEL})")
    train.add_argument("--family", help="model family (default: the manifest's)")
    train.add_argument("--param", dest="params", action="append", type=_param, metavar="NAME=VALUE", help="repeatable")
    train.add_argument("--version", help="version to publish (default: the next vN)")
    train.add_argument("--seed", type=_count, default=7)
    train.add_argument("--deploy", choices=["none", "shadow", "canary"], default="none", help="if approved")
    train.add_argument("--no-wait", action="store_true", help="queue the job and print its id")
    _api_options(train, "ml_engineer")
    retrain = commands.add_parser("retrain", help="snapshot a use case's data now and train on it")
    retrain.add_argument("use_case")
    retrain.add_argument("--reason", required=True)
    retrain.add_argument("--deploy", choices=["none", "shadow", "canary"], default="shadow", help="if approved")
    retrain.add_argument("--no-wait", action="store_true", help="queue the job and print its id")
    _api_options(retrain, "ml_engineer")
    models = commands.add_parser("models", help="list models, or show one version's manifest and gates")
    models.add_argument("model", nargs="?")
    models.add_argument("version", nargs="?")
    _api_options(models, "ml_engineer")
    traffic = commands.add_parser("traffic", help="show a use case's champion, challenger and policy")
    traffic.add_argument("use_case")
    _api_options(traffic, "ml_engineer")
    promote = commands.add_parser("promote", help="make a version champion (full) or challenger (shadow, canary)")
    promote.add_argument("use_case")
    promote.add_argument("version")
    promote.add_argument("--policy", choices=["full", "shadow", "canary"], default="full")
    promote.add_argument("--percent", type=float, default=10.0, help="canary share of requests (default: 10)")
    promote.add_argument("--expected-revision", type=_count, help="refuse unless the policy is at this revision")
    promote.add_argument("--reason", default="")
    _api_options(promote, "ml_engineer")
    rollback = commands.add_parser("rollback", help="drop a use case's challenger, or restore its previous champion")
    rollback.add_argument("use_case")
    rollback.add_argument("--reason", default="")
    _api_options(rollback, "ml_engineer")
    key = commands.add_parser("manifest-key", help="print the public key that verifies a manifest signing key")
    key.add_argument("file", type=Path, help="PKCS#8 PEM of an Ed25519 private key")
    key.add_argument("--generate", action="store_true", help="write a new key to FILE first (refused if it exists)")
    bench_models = commands.add_parser("bench-models", help="measure training, evaluation, cold load and batching")
    bench_models.add_argument("--rows", type=_positive, default=20_000, help="training rows (default: 20000)")


def _audit_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`audit verify`, `audit digest` (and `audit export`, through the governance API) and `bench-audit`."""
    audit = commands.add_parser("audit", help="seal and verify the tamper-evident audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="check every chain, digest and decision; exit 1 naming the first break")
    digest = actions.add_parser("digest", help="seal a signed digest of every chain's head now, and archive it")
    for command in (verify, digest):
        command.add_argument("--database-url", help="the audit store (default: the local one in --state-dir)")
        command.add_argument("--archive-bucket", help="the digest archive bucket (default: the running local stack's)")
        command.add_argument("--endpoint-url", help="S3 endpoint of --archive-bucket (default: AWS's)")
        command.add_argument(
            "--signing-key", type=Path, help="PEM of the audit signing key (default: audit-signing.pem in --state-dir)"
        )
    verify.add_argument(
        "--public-key", action="append", help="base64 Ed25519 public key digests may be signed with (repeatable)"
    )
    verify.add_argument("--no-archive", action="store_true", help="do not compare digests with their archived copies")
    verify.add_argument("--json", action="store_true", help="print the whole report as JSON")
    verify.add_argument(
        "--workers", type=_positive, default=VERIFY_WORKERS, help="processes walking the chains of a large store"
    )
    _audit_export_command(actions)
    bench = commands.add_parser("bench-audit", help="measure chained audit appends and verification")
    bench.add_argument("--events", type=_positive, default=1_000_000, help="events verified (default: 1000000)")
    bench.add_argument("--postgres", help="PostgreSQL server URL (default: the local test database)")
    bench.add_argument("--no-postgres", action="store_true", help="measure SQLite only")


def _audit_export_command(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`audit export`: the audit events matching filters, with their chain links, through the governance API."""
    export = actions.add_parser("export", help="export audit events with their chain links, as JSON lines or CSV")
    export.add_argument("--format", choices=["jsonl", "csv"], help="default: from --output's suffix, else jsonl")
    export.add_argument("--since", type=_instant, help="earliest event time (ISO 8601 with offset)")
    export.add_argument("--until", type=_instant, help="end of the range, exclusive (ISO 8601 with offset)")
    for name in ("use-case", "decision-id", "principal", "model-version", "action", "outcome"):
        export.add_argument(f"--{name}", help=f"only events with this {name.replace('-', ' ')}")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    _api_options(export, "auditor")


def _governance_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The commands that call the governance API."""
    governance = commands.add_parser("governance", help="governance reports")
    reports = governance.add_subparsers(dest="governance_command", required=True)
    report = reports.add_parser(
        "report", help="the governance coverage report; exit 1 when an invocation has no audit event"
    )
    report.add_argument("--since", type=_instant, help="start (default: a day before --until)")
    report.add_argument("--until", type=_instant, help="end, exclusive (default: now)")
    _api_options(report, "auditor")
    outcome = commands.add_parser("outcome", help="record the ground truth of a decision")
    outcome.add_argument("decision_id")
    outcome.add_argument("--label", required=True, choices=["true", "false"], help="true when the target was positive")
    outcome.add_argument("--source", help="where the truth comes from, e.g. chargebacks")
    outcome.add_argument("--observed-at", type=_instant, help="when the truth became known (default: now)")
    _api_options(outcome, "decision_client")
    reviews = commands.add_parser("reviews", help="list the decisions waiting for a reviewer, oldest first")
    reviews.add_argument("--use-case")
    reviews.add_argument("--limit", type=_positive, default=50, help="reviews to list (default: 50, at most 1000)")
    _api_options(reviews, "reviewer")
    review = commands.add_parser("review", help="show a review, or decide it with --outcome and --justification")
    review.add_argument("review_id", help="the review's id: the decision's id")
    review.add_argument("--outcome", help="the final outcome, one of the use case's outcomes")
    review.add_argument("--justification", help="why, in at least ten characters")
    _api_options(review, "reviewer")
    for name, what in (
        ("drift", "show the latest drift report of each live version, and the history"),
        ("bias", "show the latest bias indicators per protected attribute and version"),
        ("quality", "show AUC, precision and recall per version over time, from recorded outcomes"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("use_case")
        _api_options(command, "auditor")
        if name == "quality":
            command.add_argument("--since", type=_instant, help="start (default: a day before --until)")
            command.add_argument("--until", type=_instant, help="end, exclusive (default: now)")
            command.add_argument("--bucket-minutes", type=_positive, help="bucket width (default: 60)")
    alerts = commands.add_parser("alerts", help="list open drift and bias alerts")
    alerts.add_argument("--use-case")
    alerts.add_argument("--all", action="store_true", help="closed alerts too")
    _api_options(alerts, "auditor")
    usage = commands.add_parser("usage", help="decisions per use case, version and principal")
    usage.add_argument("--use-case")
    usage.add_argument("--since", type=_instant, help="start (default: a day before --until)")
    usage.add_argument("--until", type=_instant, help="end, exclusive (default: now)")
    _api_options(usage, "auditor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leaim", description="Governed ML decisions, on this machine or on AWS.")
    parser.add_argument("--state-dir", type=Path, default=Path(".leaim"), help="local state (default: .leaim)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the local stack from template.yaml until interrupted")
    up.add_argument("--port", type=int, default=3000, help="API port on 127.0.0.1 (default: 3000)")
    up.add_argument("--no-train", action="store_true", help="do not train the reference model at start")
    demo = commands.add_parser("demo", help="train, start the stack, send decisions over HTTP and SQS, reconcile")
    demo.add_argument("--requests", type=_positive, default=240, help="well-formed HTTP decision requests")
    demo.add_argument("--queue-messages", type=_positive, default=60, help="messages sent to the decision queue")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--drift",
        action="store_true",
        help="run the feedback loop instead: drift, retraining, promotion (state in STATE_DIR/drift-demo, emptied)",
    )
    bench = commands.add_parser("bench", help="measure the governed decision path against its floors")
    bench.add_argument("--iterations", type=_positive, default=2000, help="timed calls per in-process measurement")
    bench.add_argument("--http-requests", type=_positive, default=400, help="HTTP requests per concurrency level")
    bench_ingest = commands.add_parser("bench-ingest", help="measure ingestion throughput against validation alone")
    bench_ingest.add_argument("--records", type=_positive, default=20_000, help="records per measurement")
    bench_ingest.add_argument("--http-records", type=_positive, default=10_000, help="records sent over HTTP")
    bench_drift = commands.add_parser("bench-drift", help="time the drift check on a large seeded window")
    bench_drift.add_argument("--rows", type=_positive, default=1_000_000, help="live rows (default: 1000000)")
    bench_drift.add_argument("--features", type=_positive, default=30, help="model features (default: 30)")
    ingest = commands.add_parser("ingest", help="send a .jsonl or .csv file of records to the ingestion API")
    ingest.add_argument("file", type=Path, help="records: one JSON object a line (.jsonl), or a .csv with a header")
    ingest.add_argument("--dataset", required=True, help="dataset the records belong to, e.g. transactions")
    ingest.add_argument("--contract-version", default="v1", help="dataset contract version (default: v1)")
    ingest.add_argument("--batch-size", type=_batch_size, default=5000, help="records per request (default: 5000)")
    _api_options(ingest, "data_producer")
    snapshot = commands.add_parser("snapshot", help="freeze a dataset's stored records into a snapshot")
    snapshot.add_argument("dataset")
    snapshot.add_argument("--since", type=_instant, help="earliest event time (ISO 8601 with offset)")
    snapshot.add_argument("--until", type=_instant, help="latest event time (ISO 8601 with offset)")
    _api_options(snapshot, "ml_engineer")
    snapshots = commands.add_parser("snapshots", help="list a dataset's snapshots")
    snapshots.add_argument("dataset")
    _api_options(snapshots, "ml_engineer")
    quarantine = commands.add_parser("quarantine", help="list a dataset's quarantined records, or replay them")
    quarantine.add_argument("dataset")
    quarantine.add_argument("--limit", type=_positive, default=50, help="records to list (default: 50)")
    quarantine.add_argument("--replay", action="store_true", help="check the records again and store those that pass")
    quarantine.add_argument("--contract-version", help="with --replay: check against this version instead")
    quarantine.add_argument("--id", dest="ids", action="append", help="with --replay: only this record (repeatable)")
    _api_options(quarantine, "data_steward")
    _audit_commands(commands)
    _lifecycle_commands(commands)
    _governance_commands(commands)
    sample = commands.add_parser("sample-data", help="write sample transactions records, some deliberately broken")
    sample.add_argument("file", type=Path)
    sample.add_argument("--rows", type=_positive, default=1000, help="valid records (default: 1000)")
    sample.add_argument("--bad", type=_count, default=0, help="broken records mixed in (default: 0)")
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file's suffix, else jsonl")
    return parser


@contextlib.contextmanager
def _function_output(state_dir: Path) -> Iterator[TextIO]:
    """Send what the functions print (logs, EMF metrics) to a file, as CloudWatch would keep it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with (state_dir / "functions.log").open("a", encoding="utf-8") as log:
        sys.stdout = log
        try:
            yield terminal
        finally:
            sys.stdout = terminal


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `leaim` command."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "quarantine" and not arguments.replay and (arguments.ids or arguments.contract_version):
        parser.error("--id and --contract-version need --replay")
    if arguments.command == "review" and (arguments.outcome is None) != (arguments.justification is None):
        parser.error("--outcome and --justification go together")
    try:
        with _function_output(arguments.state_dir) as terminal:
            console = Console(file=terminal)
            status = _run(arguments, console)
    except (LeaimError, OSError) as error:
        print(f"leaim: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        status = 130
    raise SystemExit(status)


def _run(arguments: argparse.Namespace, console: Console) -> int:
    if arguments.command == "demo" and arguments.drift:
        return _drift_demo(arguments, console)
    if arguments.command == "demo":
        from embedded.demos.main import DemoOptions, run_demo
        from embedded.world import WorldOptions

        world = WorldOptions(state_dir=arguments.state_dir, seed=arguments.seed, run_schedules=False)
        options = DemoOptions(http_requests=arguments.requests, queue_messages=arguments.queue_messages, world=world)
        return run_demo(options, console)
    if arguments.command == "up":
        return _up(arguments, console)
    if arguments.command == "bench":
        from embedded.bench.decisions import run_bench

        return run_bench(console, iterations=arguments.iterations, http_requests=arguments.http_requests)
    if arguments.command == "bench-ingest":
        from embedded.bench.decisions import run_ingest_bench

        return run_ingest_bench(console, records=arguments.records, http_records=arguments.http_records)
    if arguments.command == "bench-drift":
        from embedded.bench.drift import run_drift_bench

        return run_drift_bench(console, rows=arguments.rows, features=arguments.features)
    if arguments.command in GOVERNANCE_COMMANDS or getattr(arguments, "audit_command", None) == "export":
        return _governance(arguments, console)
    if arguments.command == "audit":
        return _audit(arguments, console)
    if arguments.command == "bench-audit":
        from embedded.bench.audit import DEFAULT_POSTGRES, run_audit_bench

        postgres = None if arguments.no_postgres else arguments.postgres or DEFAULT_POSTGRES
        return run_audit_bench(console, events=arguments.events, postgres=postgres)
    if arguments.command == "sample-data":
        return _sample_data(arguments, console)
    if arguments.command == "manifest-key":
        return _manifest_key(arguments, console)
    if arguments.command == "bench-models":
        from embedded.bench.decisions import run_model_bench

        return run_model_bench(console, rows=arguments.rows)
    from embedded.clients.http import IngestClient, LifecycleClient, local_client

    lifecycle_commands: dict[str, Callable[[argparse.Namespace, LifecycleClient, Console], int]] = {
        "train": _train,
        "retrain": _retrain,
        "models": _models,
        "traffic": _traffic,
        "promote": _promote,
        "rollback": _rollback,
    }
    target = {"api_url": arguments.api_url, "api_key": arguments.api_key}
    if arguments.command in lifecycle_commands:
        lifecycle = local_client(LifecycleClient, arguments.state_dir, arguments.role, **target)
        return lifecycle_commands[arguments.command](arguments, lifecycle, console)
    client_commands: dict[str, Callable[[argparse.Namespace, IngestClient, Console], int]] = {
        "ingest": _ingest,
        "snapshot": _snapshot,
        "snapshots": _snapshots,
        "quarantine": _quarantine,
    }
    client = local_client(IngestClient, arguments.state_dir, arguments.role, **target)
    return client_commands[arguments.command](arguments, client, console)


def _example_inputs(world: LocalWorld, cards: list[Card]) -> dict[str, object]:
    """Inputs of one well-formed transaction of a seeded card, for the printed example."""
    from embedded.synthetic import CardFraudGenerator

    return dict(CardFraudGenerator(world.manifest, seed=0).transactions(1, cards[:1])[0].inputs)


def _up(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.synthetic import CardFraudGenerator
    from embedded.world import LocalWorld, WorldOptions

    options = WorldOptions(state_dir=arguments.state_dir, api_port=arguments.port)
    with LocalWorld(options) as world:
        stack = world.running
        if not arguments.no_train:
            with console.status("Training the reference model..."):
                trained = world.train()
            console.print(f"Active model {trained.model_name} {trained.model_version} ({trained.artifact_digest[:12]})")
        cards = CardFraudGenerator(world.manifest, seed=options.seed + 1).cards(500)
        world.seed(cards)
        console.print(f"API            {stack.api_url}")
        console.print(f"AWS endpoint   {stack.endpoint_url}")
        console.print(f"Decision queue {stack.queue_url('DecisionQueue')}")
        console.print(f"Ingest queue   {stack.queue_url('IngestQueue')}")
        console.print(f"Ingest stream  {stack.stream_name('IngestStream')}")
        console.print(f"Datasets       s3://{stack.bucket_name('DatasetsBucket')}")
        console.print(f"Artifacts      s3://{stack.bucket_name('ArtifactsBucket')}")
        console.print(f"Audit store    {world.database_url}")
        console.print(f"Audit archive  s3://{stack.bucket_name('AuditArchiveBucket')}")
        console.print(f"API keys       {world.state_dir / 'api-keys.json'}")
        console.print(f"Function logs  {arguments.state_dir / 'functions.log'}")
        example = json.dumps({"request_id": "r-1", "inputs": _example_inputs(world, cards)})
        console.print("Try:")
        console.print(
            f"  curl -s -X POST {stack.api_url}/v1/decisions/card_fraud "
            f"-H 'x-api-key: {world.api_keys['decision_client']}' -d '{example}'",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
        console.print("  leaim sample-data transactions.jsonl --rows 2000 --bad 40")
        console.print("  leaim ingest transactions.jsonl --dataset transactions && leaim quarantine transactions")
        console.print(
            "  leaim snapshots transactions && leaim train --snapshot <id> --deploy shadow && leaim traffic card_fraud"
        )
        console.print("  leaim audit digest && leaim audit verify")
        console.print("Ctrl-C stops the stack.")
        while True:
            time.sleep(3600)


@dataclass
class _IngestTotals:
    """The reports of an ingestion's batches, added up; quarantine entries keep their place in the file."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    stale_online_updates: int = 0
    quarantine: list[tuple[str, QuarantineEntry]] = field(default_factory=list)

    def add(self, report: IngestReport, first: int) -> None:
        """Count a batch whose first record is the file's record number `first` (from 1)."""
        self.received += report.received
        self.stored += report.stored
        self.duplicates += report.duplicates
        self.quarantined += report.quarantined
        self.stale_online_updates += report.stale_online_updates
        room = SHOWN_QUARANTINE - len(self.quarantine)
        self.quarantine.extend((_file_position(entry.origin, first), entry) for entry in report.quarantine[:room])


def _file_position(origin: str, first: int) -> str:
    """`records[3]` of a batch starting at record `first` is record `first + 3` of the file."""
    match = re.fullmatch(r"records\[(\d+)\]", origin)
    return f"record {first + int(match.group(1))}" if match else origin


def _ingest(arguments: argparse.Namespace, client: IngestClient, console: Console) -> int:
    from embedded.clients.http import batches, count_records, read_records

    path: Path = arguments.file
    total = count_records(path)
    totals = _IngestTotals()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"Ingesting {path.name} into {arguments.dataset}", total=total)
            for batch in batches(read_records(path), arguments.batch_size):
                report = client.ingest_batch(arguments.dataset, batch, arguments.contract_version)
                totals.add(report, totals.received + 1)
                progress.advance(task, len(batch))
    except (LeaimError, KeyboardInterrupt):
        if totals.received:
            console.print(
                f"Stopped after {totals.received} of {total} records; sent again, stored ones count as duplicates."
            )
            _print_ingest(totals, arguments.dataset, console)
        raise
    _print_ingest(totals, arguments.dataset, console)
    return 0


def _print_ingest(totals: _IngestTotals, dataset: str, console: Console) -> None:
    table = _facts(
        f"Ingested into {dataset}",
        {
            "received": totals.received,
            "stored": totals.stored,
            "duplicates": totals.duplicates,
            "quarantined": totals.quarantined,
            "stale online updates": totals.stale_online_updates,
        },
    )
    console.print(table)
    if totals.quarantine:
        shown = [(where, entry.record_id, entry.reason) for where, entry in totals.quarantine]
        title = f"Quarantined: {totals.quarantined}" + (
            f", the first {len(shown)} shown" if len(shown) < totals.quarantined else ""
        )
        console.print(_rows(title, ("record", "record id", "reason"), shown))
        console.print(f"List them all with `leaim quarantine {dataset}`.", markup=False, highlight=False)


def _snapshot(arguments: argparse.Namespace, client: IngestClient, console: Console) -> int:
    snapshot = client.create_snapshot(arguments.dataset, since=arguments.since, until=arguments.until)
    facts: dict[str, object] = {
        "snapshot": snapshot.snapshot_id,
        "rows": snapshot.row_count,
        "labeled rows": snapshot.labeled_rows,
        "content sha256": snapshot.content_sha256,
        "contract versions": _versions(snapshot.contract_versions),
        "event times": f"{snapshot.event_time_min.isoformat()} to {snapshot.event_time_max.isoformat()}",
        "data": snapshot.data_key,
    }
    console.print(_facts(f"Snapshot of {snapshot.dataset}", facts))
    return 0


def _snapshots(arguments: argparse.Namespace, client: IngestClient, console: Console) -> int:
    items = client.list_snapshots(arguments.dataset)
    header = ("snapshot", "created", "rows", "labeled", "versions", "event times", "sha256")
    console.print(_rows(f"Snapshots of {arguments.dataset}: {len(items)}", header, [_snapshot_row(s) for s in items]))
    return 0


def _snapshot_row(snapshot: SnapshotManifest) -> tuple[object, ...]:
    return (
        snapshot.snapshot_id,
        f"{snapshot.created_at:%Y-%m-%d %H:%M:%S}",
        snapshot.row_count,
        snapshot.labeled_rows,
        _versions(snapshot.contract_versions),
        f"{snapshot.event_time_min:%Y-%m-%d} to {snapshot.event_time_max:%Y-%m-%d}",
        snapshot.content_sha256[:12],
    )


def _quarantine(arguments: argparse.Namespace, client: IngestClient, console: Console) -> int:
    if arguments.replay:
        report = client.replay(
            arguments.dataset, quarantine_ids=arguments.ids, contract_version=arguments.contract_version
        )
        facts = {
            "replayed": report.replayed,
            "stored": report.stored,
            "duplicates": report.duplicates,
            "still quarantined": report.still_quarantined,
        }
        console.print(_facts(f"Replayed quarantine of {report.dataset}", facts))
        shown = [(e.quarantine_id, e.record_id, e.reason) for e in report.quarantine[:SHOWN_QUARANTINE]]
        if shown:
            title = f"Still quarantined: {report.still_quarantined}" + (
                f", the first {len(shown)} shown" if len(shown) < report.still_quarantined else ""
            )
            console.print(_rows(title, ("id", "record id", "reason"), shown))
        return 0
    rows: list[tuple[object, ...]] = []
    after: str | None = None
    while len(rows) < arguments.limit:
        page = client.quarantine_page(arguments.dataset, after=after, limit=min(arguments.limit - len(rows), 1000))
        rows.extend((r.quarantine_id, r.origin, r.record_id, r.reason) for r in page.items)
        after = page.next_token
        if after is None:
            break
    more = " (more follow: raise --limit)" if after is not None else ""
    title = f"Quarantined records of {arguments.dataset}: {len(rows)}{more}"
    console.print(_rows(title, ("id", "origin", "record id", "reason"), rows))
    return 0


def _audit(arguments: argparse.Namespace, console: Console) -> int:
    """`leaim audit verify` (0 when intact, 1 naming the first broken link) and `leaim audit digest`."""
    from embedded.trail import AUDIT_SIGNING_KEY, audit_signer
    from leaim.adapters.sql import create_engine_for, create_schema
    from leaim.adapters.sql.audit import SqlAuditTrail
    from leaim.domain.clock import SystemClock
    from leaim.governance.audit.sealing import DigestSealer, DigestSigner
    from leaim.governance.audit.verification import TrailVerifier, public_keys_from_b64, summary

    state_dir: Path = arguments.state_dir.resolve()
    if arguments.database_url is None and not (state_dir / "leaim.db").is_file():
        raise ApiUsageError(f"no audit store in {state_dir}: run `leaim up` or `leaim demo`, or pass --database-url")
    engine = create_engine_for(arguments.database_url or f"sqlite:///{state_dir / 'leaim.db'}")
    create_schema(engine)
    trail = SqlAuditTrail(engine)
    archive = _digest_archive(arguments, state_dir)
    key_file: Path = arguments.signing_key or state_dir / AUDIT_SIGNING_KEY
    if arguments.audit_command == "digest":
        if archive is None:
            raise ApiUsageError("no archive to seal into: start `leaim up`, or pass --archive-bucket")
        signer = (
            audit_signer(state_dir) if arguments.signing_key is None else DigestSigner.from_pem(key_file.read_bytes())
        )
        sealed = DigestSealer(store=trail, archive=archive, signer=lambda: signer, clock=SystemClock()).seal()
        digest = sealed.signed.digest
        name = sealed.archived.key.rsplit("/", 1)[-1]
        console.print(
            f"sealed digest {digest.sequence}: {len(digest.heads)} chain{'' if len(digest.heads) == 1 else 's'}, "
            f"{digest.events} events, sha256 "
            f"{sealed.signed.digest_hash}, archived at {archive.location}{name} (version {sealed.archived.version_id})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 0
    keys = public_keys_from_b64(arguments.public_key or [])
    if not keys and key_file.is_file():
        local = DigestSigner.from_pem(key_file.read_bytes())
        keys = {local.key_id: local.public_key}
    report = TrailVerifier(keys, workers=arguments.workers).verify(trail, None if arguments.no_archive else archive)
    text = report.model_dump_json(indent=2) if arguments.json else summary(report)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    return 0 if report.intact else 1


def _digest_archive(arguments: argparse.Namespace, state_dir: Path) -> DigestArchive | None:
    """The archive named by --archive-bucket, else the running local stack's, else None."""
    from leaim.adapters.audit_archive import S3DigestArchive
    from leaim.config import Settings

    retention_days = Settings.from_env().audit_archive_retention_days
    if arguments.archive_bucket:
        import boto3

        client = boto3.client("s3", endpoint_url=arguments.endpoint_url)
        return S3DigestArchive(arguments.archive_bucket, client, retention_days=retention_days)
    from embedded.trail import running_bucket

    found = running_bucket(state_dir, "AuditArchiveBucket")
    if found is None:
        return None
    bucket, client = found
    return S3DigestArchive(bucket, client, retention_days=retention_days)


def _manifest_key(arguments: argparse.Namespace, console: Console) -> int:
    from leaim.lifecycle.signing import ManifestSigner

    path: Path = arguments.file
    if arguments.generate:
        with path.open("xb") as handle:
            handle.write(ManifestSigner.generate().pem())
        path.chmod(0o600)
    signer = ManifestSigner.from_pem(path.read_bytes())
    console.print(f"key id      {signer.key_id}", markup=False, highlight=False)
    console.print(f"public key  {signer.public_key_b64}", markup=False, highlight=False)
    console.print(
        f"modal secret create leaim-manifest-keys LEAIM_MANIFEST_PUBLIC_KEYS={signer.public_key_b64}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _train(arguments: argparse.Namespace, client: LifecycleClient, console: Console) -> int:
    request: dict[str, object] = {"snapshot_id": arguments.snapshot, "seed": arguments.seed, "deploy": arguments.deploy}
    for name, value in (("family", arguments.family), ("version", arguments.version)):
        if value is not None:
            request[name] = value
    if arguments.params:
        request["params"] = dict(arguments.params)
    job = client.create_training_job(arguments.model, request)
    return _follow(job, client, console, wait=not arguments.no_wait)


def _retrain(arguments: argparse.Namespace, client: LifecycleClient, console: Console) -> int:
    request = {"reason": arguments.reason, "trigger": "person", "deploy": arguments.deploy}
    job = client.request_retraining(arguments.use_case, request)
    console.print(f"Snapshot {job.snapshot_id} cut for {job.use_case}", markup=False, highlight=False)
    return _follow(job, client, console, wait=not arguments.no_wait)


def _follow(job: TrainingJob, client: LifecycleClient, console: Console, *, wait: bool) -> int:
    """Show a job's progress until it ends; 0 when its version is approved, 1 when rejected or failed."""
    console.print(
        f"Training job {job.job_id}: {job.model_name} {job.version} ({job.family}) on snapshot {job.snapshot_id}",
        markup=False,
        highlight=False,
    )
    if not wait:
        console.print(f"Follow it with GET /v1/training-jobs/{job.job_id}", markup=False, highlight=False)
        return 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{job.state}: {job.stage}", total=1.0)
        while job.state in ("queued", "running"):
            time.sleep(JOB_POLL_S)
            job = client.training_job(job.job_id)
            progress.update(task, completed=job.progress, description=f"{job.state}: {job.stage}")
    if job.state == "failed":
        console.print(f"Job failed: {job.message}", markup=False, highlight=False)
        return 1
    _print_version(client.version(job.model_name, job.version), console)
    console.print(f"{job.state}: {job.message or ''}", markup=False, highlight=False)
    return 0 if job.state == "succeeded" else 1


def _print_version(view: ModelVersionView, console: Console) -> None:
    manifest = view.manifest
    metrics = manifest.metrics
    lineage = manifest.lineage
    facts: dict[str, object] = {
        "status": manifest.status,
        "aliases": ", ".join(view.aliases) or "-",
        "family": manifest.family,
        "params": json.dumps(manifest.params, sort_keys=True),
        "seed": manifest.seed,
        "artifact sha256": manifest.artifact_digest,
        "artifact bytes": manifest.artifact_bytes,
        "signed by key": view.key_id,
        "snapshot": f"{lineage.snapshot_id} sha256 {lineage.snapshot_sha256[:12]}",
        "code version": lineage.code_version,
        "requested by": f"{lineage.requested_by} ({lineage.trigger})",
        "rows": f"{metrics.train_rows} train, {metrics.holdout_rows} held out",
    }
    console.print(_facts(f"{manifest.model_name} {manifest.model_version}", facts))
    rows = [
        (gate.gate, "pass" if gate.passed else "FAIL", "" if gate.value is None else f"{gate.value:.6g}", gate.limit)
        for gate in manifest.gates
    ]
    console.print(_rows("Gates on the held-out split", ("gate", "result", "value", "limit"), rows))
    if manifest.reasons:
        console.print(_rows("Rejected because", ("reason",), [(reason,) for reason in manifest.reasons]))


def _models(arguments: argparse.Namespace, client: LifecycleClient, console: Console) -> int:
    if arguments.model and arguments.version:
        _print_version(client.version(arguments.model, arguments.version), console)
        return 0
    if arguments.model:
        raise ApiUsageError("give a version too: leaim models MODEL VERSION")
    header = ("model", "use case", "family", "versions", "approved", "rejected", "champion", "challenger", "latest")
    rows = [
        (
            m.model_name,
            m.use_case,
            m.family,
            m.versions,
            m.approved,
            m.rejected,
            m.champion,
            m.challenger,
            m.latest_version,
        )
        for m in client.models().models
    ]
    console.print(_rows("Models", header, rows))
    return 0


def _traffic(arguments: argparse.Namespace, client: LifecycleClient, console: Console) -> int:
    _print_traffic(client.traffic(arguments.use_case), console)
    return 0


def _promote(arguments: argparse.Namespace, client: LifecycleClient, console: Console) -> int:
    change: dict[str, object] = {"version": arguments.version, "policy": arguments.policy, "reason": arguments.reason}
    if arguments.policy == "canary":
        change["canary_percent"] = arguments.percent
    if arguments.expected_revision is not None:
        change["expected_revision"] = arguments.expected_revision
    _print_traffic(client.change_traffic(arguments.use_case, change), console)
    return 0


def _rollback(arguments: argparse.Namespace, client: LifecycleClient, console: Console) -> int:
    _print_traffic(client.rollback(arguments.use_case, arguments.reason), console)
    return 0


def _print_traffic(policy: TrafficPolicy, console: Console) -> None:
    challenger = "-"
    if policy.challenger is not None:
        share = f" {policy.canary_percent:g}%" if policy.policy == "canary" else ""
        challenger = f"{policy.challenger} ({policy.policy}{share})"
    facts = {
        "model": policy.model_name,
        "champion": policy.champion or "-",
        "challenger": challenger,
        "previous champion": policy.previous_champion or "-",
        "revision": policy.revision,
        "changed": f"{policy.updated_at:%Y-%m-%d %H:%M:%S} by {policy.updated_by}",
    }
    console.print(_facts(f"Traffic of {policy.use_case}", facts))


def _drift_demo(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.demos.drift import DriftDemoOptions, run_drift_demo
    from embedded.world import WorldOptions

    world = WorldOptions(state_dir=arguments.state_dir / "drift-demo", seed=arguments.seed, run_schedules=False)
    return run_drift_demo(DriftDemoOptions(world=world), console)


def _governance(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.http import GovernanceClient, local_client

    commands: dict[str, Callable[[argparse.Namespace, GovernanceClient, Console], int]] = {
        "governance": _coverage,
        "outcome": _outcome,
        "reviews": _reviews,
        "review": _review,
        "drift": _drift,
        "bias": _bias,
        "quality": _quality,
        "alerts": _alerts,
        "usage": _usage,
        "audit": _audit_export,
    }
    target = {"api_url": arguments.api_url, "api_key": arguments.api_key}
    client = local_client(GovernanceClient, arguments.state_dir, arguments.role, **target)
    return commands[arguments.command](arguments, client, console)


def _coverage(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    """0 when every invocation in the range has its audit event, 1 when one has none."""
    from embedded.clients.tables import print_coverage

    report = client.coverage(since=arguments.since, until=arguments.until)
    print_coverage(console, report)
    if report.audit_coverage is None:
        console.print("No invocations in the range.", markup=False, highlight=False)
        return 0
    return 0 if report.audit_coverage == 1.0 else 1


def _outcome(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    recorded, created = client.record_outcome(
        arguments.decision_id, arguments.label == "true", observed_at=arguments.observed_at, source=arguments.source
    )
    model = f"{recorded.model.name} {recorded.model.version}" if recorded.model else "no model"
    score = "-" if recorded.score is None else f"{recorded.score:.3f}"
    facts = {
        "label": str(recorded.label).lower(),
        "source": recorded.source or "-",
        "observed": f"{recorded.observed_at:%Y-%m-%d %H:%M:%S}",
        "decided": f"{recorded.outcome} by {model}, score {score}",
        "reported by": recorded.reported_by,
        "recorded": f"{recorded.recorded_at:%Y-%m-%d %H:%M:%S}" + ("" if created else " (already, unchanged)"),
    }
    console.print(_facts(f"Outcome of decision {recorded.decision_id}", facts))
    return 0


def _reviews(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    from embedded.clients.tables import reviews_table

    page = client.reviews(arguments.use_case, limit=min(arguments.limit, 1000))
    more = " (more follow: raise --limit)" if page.next_cursor else ""
    console.print(reviews_table(f"Pending reviews: {len(page.reviews)}{more}", page.reviews))
    return 0


def _review(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    if arguments.outcome is None:
        review = client.review(arguments.review_id)
    else:
        review = client.override(arguments.review_id, arguments.outcome, arguments.justification)
    model = f"{review.model.name} {review.model.version}" if review.model else "-"
    facts: dict[str, object] = {
        "decision": review.decision_id,
        "use case": review.use_case,
        "status": review.status,
        "decided": f"{review.decided_at:%Y-%m-%d %H:%M:%S} by {model}",
        "outcome": review.outcome,
        "score": "-" if review.score is None else f"{review.score:.3f}",
        "reasons": "; ".join(reason.message for reason in review.reasons) or "-",
        "inputs": json.dumps(review.inputs, sort_keys=True),
    }
    if review.override is not None:
        override = review.override
        facts["override"] = f"{override.original_outcome} -> {override.outcome} by {override.reviewer}"
        facts["justification"] = override.justification
        facts["reviewed"] = f"{override.reviewed_at:%Y-%m-%d %H:%M:%S}, audit event {override.event_id}"
    console.print(_facts(f"Review {review.review_id}", facts))
    return 0


def _drift(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    from embedded.clients.tables import drift_history_table, drift_table

    reports = client.drift(arguments.use_case)
    if not reports.latest:
        console.print(f"No drift report for {reports.use_case} yet: the monitor has not run on it.", markup=False)
        return 0
    for report in reports.latest:
        console.print(drift_table(report))
    console.print(drift_history_table(reports.use_case, reports.history))
    return 0


def _bias(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    from embedded.clients.tables import bias_table

    console.print(bias_table(client.bias(arguments.use_case)))
    return 0


def _quality(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    from embedded.clients.tables import quality_table

    report = client.quality(
        arguments.use_case, since=arguments.since, until=arguments.until, bucket_minutes=arguments.bucket_minutes
    )
    console.print(quality_table(report))
    return 0


def _alerts(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    from embedded.clients.tables import alerts_table

    alerts = client.alerts(arguments.use_case, include_closed=arguments.all).alerts
    console.print(alerts_table(f"{'Alerts' if arguments.all else 'Open alerts'}: {len(alerts)}", alerts))
    return 0


def _usage(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    from embedded.clients.tables import usage_table

    console.print(usage_table(client.usage(since=arguments.since, until=arguments.until, use_case=arguments.use_case)))
    return 0


def _audit_export(arguments: argparse.Namespace, client: GovernanceClient, console: Console) -> int:
    output: Path | None = arguments.output
    kind: RecordFormat = arguments.format or ("csv" if output and output.suffix.lower() == ".csv" else "jsonl")
    filters = {
        "since": arguments.since,
        "until": arguments.until,
        "use_case": arguments.use_case,
        "decision_id": arguments.decision_id,
        "principal": arguments.principal,
        "model_version": arguments.model_version,
        "action": arguments.action,
        "outcome": arguments.outcome,
    }
    text = client.export_audit(filters, kind)
    if output is None:
        console.file.write(text)
        return 0
    output.write_text(text, encoding="utf-8", newline="")
    events = len(text.splitlines()) if kind == "jsonl" else max(len(list(csv.reader(io.StringIO(text)))) - 1, 0)
    console.print(f"Wrote {events} audit events to {output} ({kind})", markup=False, highlight=False)
    return 0


def _facts(title: str, facts: Mapping[str, object]) -> Table:
    """A two-column table of named values."""
    table = Table(title=title, show_header=False, min_width=len(title))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in facts.items():
        table.add_row(name, Text(str(value)))
    return table


def _rows(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A table of rows; values are shown as text, never as markup."""
    table = Table(title=title)
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if value is None else str(value)) for value in row))
    return table


def _versions(counts: dict[str, int]) -> str:
    return ", ".join(f"{version}: {count}" for version, count in sorted(counts.items()))


def _sample_data(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.http import write_records
    from embedded.synthetic import BROKEN_KINDS, sample_records
    from leaim.domain.manifests import ManifestCatalog

    path: Path = arguments.file
    kind: RecordFormat = arguments.format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    manifest = ManifestCatalog.from_directory(None).get(SAMPLE_USE_CASE)
    records = sample_records(manifest, arguments.rows, arguments.bad, seed=arguments.seed, now=datetime.now(UTC))
    write_records(path, records, kind)
    console.print(
        f"Wrote {len(records)} transactions records to {path}: {arguments.rows} valid, {arguments.bad} broken",
        markup=False,
        highlight=False,
    )
    if arguments.bad:
        console.print(
            f"The broken ones have record ids bad-{arguments.seed}-NNNNN: {', '.join(BROKEN_KINDS)}, in turn."
        )
    console.print(f"Try: leaim ingest {path} --dataset transactions", markup=False, highlight=False)
    return 0
