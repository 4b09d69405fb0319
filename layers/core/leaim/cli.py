"""The `leaim` command: the embedded default, the benchmark, and a client of the ingestion API.

`up` and `demo` run the local stack and `bench` and `bench-ingest` measure it; `ingest`, `quarantine`,
`snapshot` and `snapshots` call the ingestion API, local or deployed; `sample-data` writes records to try them on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
    from leaim.data.synthetic import Card
    from leaim.local.client import IngestClient, RecordFormat
    from leaim.local.world import LocalWorld

# Quarantine entries shown after an ingestion or a replay; `leaim quarantine` lists them all.
SHOWN_QUARANTINE = 10
SAMPLE_USE_CASE = "card_fraud"


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


def _api_options(command: argparse.ArgumentParser, role: str) -> None:
    """`--api-url` and `--api-key`, defaulting to the local stack's URL and its `role` key."""
    command.add_argument("--api-url", help="API base URL (default: the local stack's, from --state-dir)")
    command.add_argument("--api-key", help=f"API key (default: the local stack's {role} key)")
    command.set_defaults(role=role)


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
    bench = commands.add_parser("bench", help="measure the governed decision path against its floors")
    bench.add_argument("--iterations", type=_positive, default=2000, help="timed calls per in-process measurement")
    bench.add_argument("--http-requests", type=_positive, default=400, help="HTTP requests per concurrency level")
    bench_ingest = commands.add_parser("bench-ingest", help="measure ingestion throughput against validation alone")
    bench_ingest.add_argument("--records", type=_positive, default=20_000, help="records per measurement")
    bench_ingest.add_argument("--http-records", type=_positive, default=10_000, help="records sent over HTTP")
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
    if arguments.command == "demo":
        from leaim.local.demo import DemoOptions, run_demo
        from leaim.local.world import WorldOptions

        world = WorldOptions(state_dir=arguments.state_dir, seed=arguments.seed)
        options = DemoOptions(http_requests=arguments.requests, queue_messages=arguments.queue_messages, world=world)
        return run_demo(options, console)
    if arguments.command == "up":
        return _up(arguments, console)
    if arguments.command == "bench":
        from leaim.bench import run_bench

        return run_bench(console, iterations=arguments.iterations, http_requests=arguments.http_requests)
    if arguments.command == "bench-ingest":
        from leaim.bench import run_ingest_bench

        return run_ingest_bench(console, records=arguments.records, http_records=arguments.http_records)
    if arguments.command == "sample-data":
        return _sample_data(arguments, console)
    client_commands: dict[str, Callable[[argparse.Namespace, IngestClient, Console], int]] = {
        "ingest": _ingest,
        "snapshot": _snapshot,
        "snapshots": _snapshots,
        "quarantine": _quarantine,
    }
    from leaim.local.client import local_client

    client = local_client(arguments.state_dir, arguments.role, api_url=arguments.api_url, api_key=arguments.api_key)
    return client_commands[arguments.command](arguments, client, console)


def _example_inputs(world: LocalWorld, cards: list[Card]) -> dict[str, object]:
    """Inputs of one well-formed transaction of a seeded card, for the printed example."""
    from leaim.data.synthetic import CardFraudGenerator

    return dict(CardFraudGenerator(world.manifest, seed=0).transactions(1, cards[:1])[0].inputs)


def _up(arguments: argparse.Namespace, console: Console) -> int:
    from leaim.data.synthetic import CardFraudGenerator
    from leaim.local.world import LocalWorld, WorldOptions

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
        console.print(f"Audit store    {world.database_url}")
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
    from leaim.local.client import batches, count_records, read_records

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
    from leaim.data.synthetic import BROKEN_KINDS, sample_records
    from leaim.domain.manifests import ManifestCatalog
    from leaim.local.client import write_records

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
