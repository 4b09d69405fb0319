"""`leaim bench-ingest`: ingestion throughput against its floor, the contract check of each record alone.

Measured in one process on generated `transactions` records: validation alone (the floor); validation with
minimization, the features and the batched Parquet encoding, with no I/O (the path the 20,000 records/s per
core target is about), each the best of three runs; the ingest stream function's handler invoked in
process on Kinesis events of 500 records, writing to moto; and records over HTTP in batches of 5,000.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedded.bench.report import (
    DOCS_DIRECTORY,
    BenchmarkPage,
    Column,
    FigureTable,
    Target,
    describe_machine,
    publish,
    ratio,
)
from embedded.synthetic import CardFraudGenerator, transaction_record
from embedded.world import REFERENCE_USE_CASE, LocalWorld, WorldOptions
from leaim.data.datasets import DatasetCatalog
from leaim.data.parquet import encode
from leaim.data.records import PreparedRecord, RecordPreparer, column_data, stored_columns
from leaim.data.validation import validate_fields
from leaim.domain.manifests import ManifestCatalog

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

# The benchmark's own stack: moto keeps resources for the life of the process, and other worlds may run in it.
STACK_NAME = "leaim-bench-ingestion"
TARGET_RECORDS_PER_S = 20_000
KINESIS_BATCH = 500
HTTP_BATCH = 5_000
BEST_OF = 3


def run_ingest_bench(
    console: Console, *, records: int, http_records: int, docs_dir: Path | None = DOCS_DIRECTORY
) -> int:
    """Ingestion throughput, floor first: validation alone, then validation and transformation with the
    batched Parquet write (best of three each), then the Kinesis handler path and HTTP on the local stack, once.

    Prints the table and writes `ingestion.md` into `docs_dir` (nothing when None). Returns the exit status.
    """
    started_at = datetime.now(UTC)
    manifest = ManifestCatalog.from_directory(None).get(REFERENCE_USE_CASE)
    datasets = DatasetCatalog.from_directory(ManifestCatalog.from_directory(None))
    contract = datasets.get("transactions", "v1")
    assert contract is not None
    generator = CardFraudGenerator(manifest, seed=5)
    start = datetime.now(UTC) - timedelta(days=7)
    batch = [
        transaction_record(t, start + timedelta(seconds=i))
        for i, t in enumerate(generator.transactions(records, generator.cards(max(records // 10, 1))))
    ]
    preparer = RecordPreparer(contract, manifest, b"bench-pii-key-0123456789abcdef")
    columns = stored_columns(datasets.latest("transactions"), manifest)
    rows: list[tuple[str, float, str]] = []
    with console.status("Validation alone..."):
        seconds = _best(lambda: [validate_fields(contract.fields, r, prefix="record.", unknown="") for r in batch])
    rows.append(("validation alone", records / seconds, "the floor: the contract check of each record"))
    with console.status("Validation, minimization, features and the Parquet encoding..."):

        def transform() -> None:
            prepared = [preparer.prepare(record) for record in batch]
            good = [p for p in prepared if isinstance(p, PreparedRecord)]
            now = datetime.now(UTC)
            encode(columns, column_data(columns, good, manifest=manifest, source="bench", ingested_at=now))

        seconds = _best(transform)
    transformed = records / seconds
    rows.append(("validation, minimization, features, Parquet", transformed, "one core, no I/O"))
    with (
        tempfile.TemporaryDirectory(prefix="leaim-bench-") as state,
        LocalWorld(WorldOptions(state_dir=Path(state), worker_processes=1, stack_name=STACK_NAME)) as world,
    ):
        function = world.running.function("IngestStreamFunction")
        # The sandbox's init (a cold start, with the function's imports) is not the path measured.
        function.invoke({"Records": []})
        events = [_kinesis_event(world, batch[i : i + KINESIS_BATCH], i) for i in range(0, len(batch), KINESIS_BATCH)]
        with console.status("Kinesis handler path (moto writes)..."):
            seconds = _once(lambda: [function.invoke(event) for event in events])
        rows.append(
            (
                f"Kinesis handler, invoked in its sandbox, events of {KINESIS_BATCH}",
                records / seconds,
                "the same, then S3 and DynamoDB on moto",
            )
        )
        fresh = [{**r, "transaction_id": f"http-{r['transaction_id']}"} for r in batch[:http_records]]
        with console.status("HTTP through the local gateway..."):

            def post() -> None:
                for i in range(0, len(fresh), HTTP_BATCH):
                    world.call(
                        "POST",
                        "/v1/ingest/transactions",
                        "data_producer",
                        {"contract_version": "v1", "records": fresh[i : i + HTTP_BATCH]},
                    )

            seconds = _once(post)
        rows.append(
            (f"HTTP through the local gateway, batches of {HTTP_BATCH:,}", len(fresh) / seconds, "the same, behind it")
        )
    floor = rows[0][1]
    table = FigureTable(
        title=f"Ingestion throughput, {records:,} records ({len(fresh):,} over HTTP), one process",
        columns=(
            Column("path", figures=False),
            Column("records/s"),
            Column("x validation alone"),
            Column("what it includes", figures=False),
        ),
        rows=[(name, f"{rate:,.0f}", ratio(rate, floor), note) for name, rate, note in rows],
        note=(
            f"The CPU paths are the best of {BEST_OF} runs, the I/O paths one run each. "
            "Each ratio is the path's rate over the rate of validation alone."
        ),
    )
    page = BenchmarkPage(
        name="ingestion",
        title="Ingestion throughput",
        summary=(
            f"Records per second through ingestion, in one process, on {records:,} generated `transactions` "
            "records, against its floor, the contract check of each record alone: validation with minimization, "
            "the features and the batched Parquet encoding (no I/O, the path the target is about); the ingest "
            f"stream function invoked directly in its warm sandbox on Kinesis events of {KINESIS_BATCH} records, "
            f"writing to moto; and {len(fresh):,} records over HTTP through the local gateway."
        ),
        command=f"leaim bench-ingest --records {records} --http-records {http_records}",
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=[table],
        targets=[
            Target(
                what="validation, minimization, features and Parquet encoding, one core",
                target=f">= {TARGET_RECORDS_PER_S:,} records/s",
                measured=f"{transformed:,.0f} records/s",
                met=transformed >= TARGET_RECORDS_PER_S,
            )
        ],
    )
    publish(console, page, docs_dir)
    return 0


def _best(call: Callable[[], object], runs: int = BEST_OF) -> float:
    """The fastest of `runs` timings: CPU-bound work measured without the noise of a busy machine."""
    return min(_once(call) for _ in range(runs))


def _once(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _kinesis_event(world: LocalWorld, records: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    """A Lambda Kinesis event carrying `records` as ingest.v1 messages."""
    arn = world.running.physical_resource("IngestStream").attributes["Arn"]
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "bench",
                    "sequenceNumber": f"{offset + i:056d}",
                    "data": base64.b64encode(
                        json.dumps({"dataset": "transactions", "contract_version": "v1", "record": r}).encode()
                    ).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{offset + i:056d}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": world.running.region,
                "eventSourceARN": arn,
            }
            for i, r in enumerate(records)
        ]
    }
