"""Shared pieces of the ingestion end-to-end tests: records, senders, waits and readers on the local stack."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3

from embedded.synthetic import CardFraudGenerator, transaction_record
from leaim.adapters.dynamodb import DynamoRecordLedger
from leaim.adapters.s3 import S3ObjectStore
from leaim.data.parquet import decode

if TYPE_CHECKING:
    from collections.abc import Callable

    from embedded.world import LocalWorld

DATASET = "transactions"


def records(world: LocalWorld, n: int, *, seed: int, start: datetime | None = None) -> list[dict[str, Any]]:
    """`n` valid v1 records of up to 250 fresh cards, one minute apart from `start` (default: ending a day ago)."""
    generator = CardFraudGenerator(world.manifest, seed=seed)
    begin = start or datetime.now(UTC) - timedelta(days=1, minutes=n)
    return [
        transaction_record(t, begin + timedelta(minutes=i))
        for i, t in enumerate(generator.transactions(n, generator.cards(min(max(n // 4, 1), 250))))
    ]


def message(record: object, version: str = "v1", dataset: str = DATASET) -> str:
    """An ingest.v1 message body carrying one record."""
    return json.dumps({"dataset": dataset, "contract_version": version, "record": record})


def client(world: LocalWorld, service: str) -> Any:
    """A boto3 client of the stack's AWS endpoint."""
    return boto3.client(service, endpoint_url=world.running.endpoint_url)  # type: ignore[call-overload]


def objects(world: LocalWorld) -> S3ObjectStore:
    """The datasets bucket."""
    return S3ObjectStore(world.running.bucket_name("DatasetsBucket"), client(world, "s3"))


def ledger(world: LocalWorld) -> DynamoRecordLedger:
    """The record ledger."""
    return DynamoRecordLedger(world.running.table_name("IngestLedgerTable"), client(world, "dynamodb"))


def stored_rows(world: LocalWorld) -> dict[str, dict[str, object | None]]:
    """Every offline-store row the ledger confirms, by record id."""
    store = objects(world)
    rows: dict[str, tuple[str, dict[str, object | None]]] = {}
    for key in store.keys(f"offline/{DATASET}/"):
        for row in decode(store.get(key) or b"").rows():
            rows[str(row["transaction_id"])] = (key, row)
    confirmed = ledger(world).lookup(DATASET, sorted(rows))
    return {rid: row for rid, (key, row) in rows.items() if rid in confirmed and confirmed[rid].location == key}


def wait_for(probe: Callable[[], Any], *, timeout_s: float = 60.0, what: str = "condition") -> Any:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def put_on_stream(world: LocalWorld, bodies: list[str]) -> None:
    """Put message bodies on the ingest stream, in order, on one shard."""
    kinesis = client(world, "kinesis")
    stream = world.running.stream_name("IngestStream")
    for start in range(0, len(bodies), 500):
        kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": body.encode(), "PartitionKey": "p"} for body in bodies[start : start + 500]],
        )


def quarantined(world: LocalWorld, dataset: str = DATASET) -> list[dict[str, Any]]:
    """Every quarantined record of `dataset`, through the API, page by page."""
    items: list[dict[str, Any]] = []
    after = ""
    while True:
        path = f"/v1/ingest/{dataset}/quarantine?limit=1000" + (f"&after={after}" if after else "")
        page = world.call("GET", path, "data_steward")
        items += page["items"]
        if not page["next_token"]:
            return items
        after = page["next_token"]
