"""`leaim ingest`, `quarantine`, `snapshot` and `snapshots`, through the ingestion API, and `leaim sample-data`."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.options import api_client, api_options, count, instant, positive
from embedded.clients.tables import facts_table, rows_table
from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from rich.console import Console

    from contracts.ingest.v1 import IngestReport, QuarantineEntry, SnapshotManifest
    from embedded.cli.options import Commands
    from embedded.clients.ingestion import IngestClient
    from embedded.clients.records import RecordFormat

# Quarantine entries shown after an ingestion or a replay; `leaim quarantine` lists them all.
SHOWN_QUARANTINE = 10
# Records per ingestion request: a batch that answers well within the ingestion function's 28 s on a busy machine.
DEFAULT_BATCH = 1000


def _batch_size(text: str) -> int:
    """An argparse type: records per request, 1 to the API's limit."""
    from contracts.ingest.v1 import MAX_BATCH_RECORDS

    value = positive(text)
    if value > MAX_BATCH_RECORDS:
        raise argparse.ArgumentTypeError(f"{value} is more than the {MAX_BATCH_RECORDS} records a request may carry")
    return value


def register(commands: Commands) -> None:
    """Add `ingest`, `snapshot`, `snapshots`, `quarantine` and `sample-data`."""
    ingest = commands.add_parser("ingest", help="send a .jsonl or .csv file of records to the ingestion API")
    ingest.add_argument("file", type=Path, help="records: one JSON object a line (.jsonl), or a .csv with a header")
    ingest.add_argument("--dataset", required=True, help="dataset the records belong to, e.g. transactions")
    ingest.add_argument("--contract-version", default="v1", help="dataset contract version (default: v1)")
    ingest.add_argument(
        "--batch-size",
        type=_batch_size,
        default=DEFAULT_BATCH,
        help=f"records per request (default: {DEFAULT_BATCH})",
    )
    api_options(ingest, "data_producer")
    ingest.set_defaults(run=_ingest)
    snapshot = commands.add_parser("snapshot", help="freeze a dataset's stored records into a snapshot")
    snapshot.add_argument("dataset")
    snapshot.add_argument("--since", type=instant, help="earliest event time (ISO 8601 with offset)")
    snapshot.add_argument("--until", type=instant, help="latest event time (ISO 8601 with offset)")
    api_options(snapshot, "ml_engineer")
    snapshot.set_defaults(run=_snapshot)
    snapshots = commands.add_parser("snapshots", help="list a dataset's snapshots")
    snapshots.add_argument("dataset")
    api_options(snapshots, "ml_engineer")
    snapshots.set_defaults(run=_snapshots)
    quarantine = commands.add_parser("quarantine", help="list a dataset's quarantined records, or replay them")
    quarantine.add_argument("dataset")
    quarantine.add_argument("--limit", type=positive, default=50, help="records to list (default: 50)")
    quarantine.add_argument("--replay", action="store_true", help="check the records again and store those that pass")
    quarantine.add_argument("--contract-version", help="with --replay: check against this version instead")
    quarantine.add_argument("--id", dest="ids", action="append", help="with --replay: only this record (repeatable)")
    api_options(quarantine, "data_steward")
    quarantine.set_defaults(run=_quarantine, check=_replay_options)
    sample = commands.add_parser(
        "sample-data",
        help="write seeded sample records of a dataset, some deliberately broken",
        description="Write seeded records of a configured dataset (the shipped contracts, or LEAIM_DATASETS_DIR's), "
        "valid against its contract: the reference transactions as their realistic generator makes them, any "
        "other dataset drawn from its contract's fields.",
    )
    sample.add_argument("file", type=Path)
    sample.add_argument("--dataset", help="dataset to write records of (default: the only one configured)")
    sample.add_argument("--contract-version", help="contract version the records follow (default: the dataset's first)")
    sample.add_argument("--rows", type=positive, default=1000, help="valid records (default: 1000)")
    sample.add_argument("--bad", type=count, default=0, help="broken records mixed in (default: 0)")
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--format", choices=["jsonl", "csv"], help="default: from the file's suffix, else jsonl")
    sample.set_defaults(run=_sample_data)


def _replay_options(arguments: argparse.Namespace) -> str | None:
    """The options of `leaim quarantine` that only a replay takes, given without `--replay`."""
    if not arguments.replay and (arguments.ids or arguments.contract_version):
        return "--id and --contract-version need --replay"
    return None


def _ingestion(arguments: argparse.Namespace) -> IngestClient:
    """The ingestion API that the command's `--api-url` and `--api-key` name, else the local stack's."""
    from embedded.clients.ingestion import IngestClient

    return api_client(IngestClient, arguments)


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


def _ingest(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.records import batches, count_records, read_records

    client = _ingestion(arguments)
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
    table = facts_table(
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
        console.print(rows_table(title, ("record", "record id", "reason"), shown))
        console.print(f"List them all with `leaim quarantine {dataset}`.", markup=False, highlight=False)


def _snapshot(arguments: argparse.Namespace, console: Console) -> int:
    client = _ingestion(arguments)
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
    console.print(facts_table(f"Snapshot of {snapshot.dataset}", facts))
    return 0


def _snapshots(arguments: argparse.Namespace, console: Console) -> int:
    client = _ingestion(arguments)
    items = client.list_snapshots(arguments.dataset)
    header = ("snapshot", "created", "rows", "labeled", "versions", "event times", "sha256")
    console.print(
        rows_table(f"Snapshots of {arguments.dataset}: {len(items)}", header, [_snapshot_row(s) for s in items])
    )
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


def _quarantine(arguments: argparse.Namespace, console: Console) -> int:
    client = _ingestion(arguments)
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
        console.print(facts_table(f"Replayed quarantine of {report.dataset}", facts))
        shown = [(e.quarantine_id, e.record_id, e.reason) for e in report.quarantine[:SHOWN_QUARANTINE]]
        if shown:
            title = f"Still quarantined: {report.still_quarantined}" + (
                f", the first {len(shown)} shown" if len(shown) < report.still_quarantined else ""
            )
            console.print(rows_table(title, ("id", "record id", "reason"), shown))
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
    console.print(rows_table(title, ("id", "origin", "record id", "reason"), rows))
    return 0


def _versions(counts: dict[str, int]) -> str:
    return ", ".join(f"{version}: {records}" for version, records in sorted(counts.items()))


def _dataset(named: str | None, configured: list[str]) -> str:
    """The dataset `--dataset` names, else the only one configured; ApiUsageError naming those there are."""
    if named is None and len(configured) == 1:
        return configured[0]
    if named is not None and named in configured:
        return named
    there = ", ".join(configured)
    if named is None:
        raise ApiUsageError(f"name the dataset with --dataset: {len(configured)} are configured ({there})")
    raise ApiUsageError(
        f"no dataset {named!r} is configured: there are {there} (LEAIM_DATASETS_DIR names another folder)"
    )


def _sample_data(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.records import write_records
    from embedded.records import broken_kinds, contract_records
    from embedded.synthetic import BROKEN_KINDS, sample_records, writes_records_of
    from leaim.config import Settings
    from leaim.data.datasets import DatasetCatalog
    from leaim.domain.manifests import ManifestCatalog

    path: Path = arguments.file
    kind: RecordFormat = arguments.format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    settings = Settings.from_env()
    manifests = ManifestCatalog.from_directory(settings.use_cases_dir)
    datasets = DatasetCatalog.from_directory(manifests, settings.datasets_dir)
    dataset = _dataset(arguments.dataset, datasets.names())
    versions = datasets.versions(dataset)
    version = arguments.contract_version or versions[0]
    contract = datasets.get(dataset, version)
    if contract is None:
        raise ApiUsageError(f"dataset {dataset} has no contract version {version}: it has {', '.join(versions)}")
    manifest = manifests.get(contract.use_case)
    now = datetime.now(UTC)
    kinds: tuple[str, ...]
    if writes_records_of(contract, manifest):
        records = sample_records(manifest, arguments.rows, arguments.bad, seed=arguments.seed, now=now)
        kinds = BROKEN_KINDS
    else:
        records = contract_records(contract, manifest, arguments.rows, arguments.bad, seed=arguments.seed, now=now)
        kinds = broken_kinds(contract)
    write_records(path, records, kind)
    console.print(
        f"Wrote {len(records)} {dataset} {version} records to {path}: {arguments.rows} valid, {arguments.bad} broken",
        markup=False,
        highlight=False,
    )
    if arguments.bad:
        console.print(
            f"The broken ones have record ids bad-{arguments.seed}-NNNNN: {', '.join(kinds)}, in turn.",
            markup=False,
            highlight=False,
        )
    version_option = "" if version == "v1" else f" --contract-version {version}"
    console.print(f"Try: leaim ingest {path} --dataset {dataset}{version_option}", markup=False, highlight=False)
    return 0
