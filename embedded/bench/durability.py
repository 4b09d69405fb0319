"""`leaim bench-durability`: what keeping the local AWS endpoint's state on disk costs per request and at start.

Each request is timed against the same request to an endpoint that keeps its state in memory only, in the same
run and process: the floor. The start is timed as a restore of a state directory holding `entities` table items
(first from the journal a `kill -9` leaves, then from the checkpoint that restore wrote), against starting an
endpoint with nothing to restore.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from embedded.bench.report import DOCS_DIRECTORY, BenchmarkPage, Column, FigureTable, describe_machine, publish, ratio
from embedded.emulation.aws import DUMMY_CREDENTIAL, LocalEndpoint
from embedded.emulation.journal import CHECKPOINT_FILE, JOURNAL_FILE, Restored

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

REGION = "us-east-1"
# About the size of a decision's bundle in the accepted store.
ITEM_BYTES = 5_000
OBJECT_BYTES = 64 * 1024
WARMUP = 20
STARTS = 3


def _clients(url: str) -> dict[str, Any]:
    options = {
        "endpoint_url": url,
        "region_name": REGION,
        "aws_access_key_id": DUMMY_CREDENTIAL,
        "aws_secret_access_key": DUMMY_CREDENTIAL,
    }
    return {name: boto3.client(name, **options) for name in ("dynamodb", "sqs", "s3")}  # type: ignore[call-overload]


class _Target:
    """One endpoint's table, queue and bucket, each named for this run, and one timed operation on each."""

    def __init__(self, url: str) -> None:
        self.clients = _clients(url)
        suffix = uuid.uuid4().hex[:10]
        self.table, self.bucket = f"bench-{suffix}", f"bench-{suffix}"
        dynamodb, sqs, s3 = self.clients["dynamodb"], self.clients["sqs"], self.clients["s3"]
        dynamodb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        self.queue = sqs.create_queue(QueueName=f"bench-{suffix}")["QueueUrl"]
        s3.create_bucket(Bucket=self.bucket)
        self.payload = "x" * ITEM_BYTES
        self.body = b"y" * OBJECT_BYTES
        self.count = 0

    def operations(self) -> dict[str, Callable[[], object]]:
        dynamodb, sqs, s3 = self.clients["dynamodb"], self.clients["sqs"], self.clients["s3"]

        def put_item() -> object:
            self.count += 1
            return dynamodb.put_item(
                TableName=self.table, Item={"pk": {"S": f"item-{self.count}"}, "v": {"S": self.payload}}
            )

        def get_item() -> object:
            return dynamodb.get_item(TableName=self.table, Key={"pk": {"S": "item-1"}}, ConsistentRead=True)

        def send_receive_delete() -> object:
            sqs.send_message(QueueUrl=self.queue, MessageBody=self.payload[:1000])
            for message in sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=1).get("Messages", []):
                sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
            return None

        def put_object() -> object:
            self.count += 1
            return s3.put_object(Bucket=self.bucket, Key=f"objects/{self.count}", Body=self.body)

        return {
            f"DynamoDB PutItem of {ITEM_BYTES:,} bytes, on a table with a stream": put_item,
            "DynamoDB GetItem (a read: nothing is journaled)": get_item,
            "SQS send, receive and delete of one message (three requests)": send_receive_delete,
            f"S3 PutObject of {OBJECT_BYTES // 1024} KiB": put_object,
        }


def _p50_ms(operation: Callable[[], object], requests: int) -> float:
    for _ in range(WARMUP):
        operation()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        operation()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000.0


def run_durability_bench(
    console: Console, *, requests: int, entities: int, docs_dir: Path | None = DOCS_DIRECTORY
) -> int:
    """Time `requests` of each operation on both endpoints and restores of `entities` items; write `durability.md`.

    Returns the exit status.
    """
    started_at = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="leaim-durability-") as scratch:
        state_dir = Path(scratch) / "aws"
        memory, durable = LocalEndpoint(), LocalEndpoint(state_dir=state_dir)
        memory.start()
        durable.start()
        try:
            with console.status(f"Timing {requests:,} requests of each operation on both endpoints..."):
                floor_target, durable_target = _Target(memory.url), _Target(durable.url)
                floors = floor_target.operations()
                measured = durable_target.operations()
                per_request = [
                    (name, _p50_ms(floors[name], requests), _p50_ms(measured[name], requests)) for name in floors
                ]
            with console.status(f"Writing {entities:,} items to the durable endpoint..."):
                put = measured[next(iter(measured))]
                for _ in range(entities):
                    put()
        finally:
            memory.stop()
            durable.stop()
        journal_bytes = (state_dir / JOURNAL_FILE).stat().st_size
        with console.status("Timing starts: in memory, after a kill -9 (the journal), then from the checkpoint..."):
            empty = min(_start(None)[0] for _ in range(STARTS))
            journal_seconds, from_journal = _start(state_dir)
            checkpoint_seconds, best_checkpoint = min(_start(state_dir) for _ in range(STARTS))
        checkpoint_bytes = (state_dir / CHECKPOINT_FILE).stat().st_size
    requests_table = FigureTable(
        title="Per request",
        columns=(
            Column("operation", figures=False),
            Column("in memory p50 ms"),
            Column("durable p50 ms"),
            Column("added ms"),
            Column("x in memory"),
        ),
        rows=[
            (name, f"{floor:.2f}", f"{value:.2f}", f"{value - floor:+.2f}", ratio(value, floor))
            for name, floor, value in per_request
        ],
        note=(
            f"Medians of {requests:,} requests each, after {WARMUP} unmeasured ones, through boto3 over loopback HTTP. "
            "The floor is the same request to an endpoint that keeps its state in memory only."
        ),
    )
    start_table = FigureTable(
        title=f"Start with {entities + requests + WARMUP:,} stored items",
        columns=(
            Column("start", figures=False),
            Column("seconds"),
            Column("entities"),
            Column("MB read"),
            Column("x nothing to restore"),
        ),
        rows=[
            ("in memory: no state directory", f"{empty:.3f}", "0", "0.0", ratio(empty, empty)),
            (
                "after a `kill -9`: the checkpoint, then every record of the journal",
                f"{journal_seconds:.3f}",
                f"{from_journal.entities:,}",
                f"{(from_journal.checkpoint_bytes + from_journal.journal_bytes) / 1e6:.1f}",
                ratio(journal_seconds, empty),
            ),
            (
                "a later start: the checkpoint the restore before wrote",
                f"{checkpoint_seconds:.3f}",
                f"{best_checkpoint.entities:,}",
                f"{best_checkpoint.checkpoint_bytes / 1e6:.1f}",
                ratio(checkpoint_seconds, empty),
            ),
        ],
        note=(
            f"A start with a state directory reads its files, puts every entity back into moto and writes a new "
            f"checkpoint before it serves; the floor starts the same server with nothing to read. The journal "
            f"file was {journal_bytes / 1e6:.1f} MB with the room it keeps ahead; the checkpoint "
            f"{checkpoint_bytes / 1e6:.1f} MB. Best of {STARTS} starts where repeated."
        ),
    )
    page = BenchmarkPage(
        name="durability",
        title="Durable embedded default",
        summary=(
            "What keeping the local AWS endpoint's state on the state directory costs: each change's state is "
            "appended to a journal before it is answered, and put back at the next start. Requests are timed "
            "against an endpoint that keeps everything in memory, in the same process."
        ),
        command=f"leaim bench-durability --requests {requests} --entities {entities}",
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=[requests_table, start_table],
    )
    publish(console, page, docs_dir)
    return 0


def _start(state_dir: Path | None) -> tuple[float, Restored]:
    """Seconds until an endpoint on `state_dir` (in memory when None) serves, and what it restored."""
    endpoint = LocalEndpoint(state_dir=state_dir)
    started = time.perf_counter()
    endpoint.start()
    seconds = time.perf_counter() - started
    endpoint.stop()
    return seconds, endpoint.restored or Restored(0, 0, 0, 0, 0.0)
