"""Composition of the data acquisition functions: ingestion, quarantine and snapshots, over HTTP, SQS and Kinesis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.dynamodb import DynamoFeatureStore, DynamoRecordLedger
from leaim.adapters.s3 import S3ObjectStore
from leaim.adapters.sqs import SqsDeadLetterSink
from leaim.bootstrap.runtime import AWS_WRITE_CONFIG, Runtime, build_runtime, pii_key, required
from leaim.data.api import IngestionApi
from leaim.data.consumer import IngestionConsumer
from leaim.data.ingestion import IngestionService
from leaim.data.quarantine import QuarantineService
from leaim.data.snapshots import SnapshotService

if TYPE_CHECKING:
    from contracts.ingest.v1 import Source
    from leaim.config import Settings


@dataclass(frozen=True)
class Ingestion:
    """What every ingestion function shares: its runtime and the ingestion, quarantine and snapshot services."""

    runtime: Runtime
    service: IngestionService
    quarantine: QuarantineService
    snapshots: SnapshotService
    dynamodb: Any


def build_ingestion(service_name: str, settings: Settings | None = None) -> Ingestion:
    """Build the ingestion, quarantine and snapshot services and their adapters from settings."""
    runtime = build_runtime(service_name, settings)
    settings, clock = runtime.settings, runtime.clock
    dynamodb = boto3.client("dynamodb", config=AWS_WRITE_CONFIG)
    manifests, datasets = runtime.catalogs(dynamodb)
    objects = S3ObjectStore(
        required(settings.datasets_bucket, "datasets_bucket"), boto3.client("s3", config=AWS_WRITE_CONFIG)
    )
    ledger = DynamoRecordLedger(required(settings.ingest_ledger_table, "ingest_ledger_table"), dynamodb)
    service = IngestionService(
        datasets=datasets,
        manifests=manifests,
        objects=objects,
        ledger=ledger,
        online=DynamoFeatureStore(required(settings.features_table, "features_table"), dynamodb),
        clock=clock,
        pii_key=pii_key(settings),
    )
    return Ingestion(
        runtime=runtime,
        service=service,
        quarantine=QuarantineService(ingestion=service, manifests=manifests, objects=objects),
        snapshots=SnapshotService(datasets=datasets, manifests=manifests, objects=objects, ledger=ledger, clock=clock),
        dynamodb=dynamodb,
    )


def build_ingestion_api(ingestion: Ingestion, *, source: str) -> IngestionApi:
    """The ingestion API of the ingestion API function."""
    runtime = ingestion.runtime
    return IngestionApi(
        ingestion=ingestion.service,
        quarantine=ingestion.quarantine,
        snapshots=ingestion.snapshots,
        gate=runtime.http_gate(
            ingestion.dynamodb, max_body_bytes=runtime.settings.max_ingest_body_bytes, source=source
        ),
    )


def build_ingestion_consumer(ingestion: Ingestion, *, kind: Source, source: str) -> IngestionConsumer:
    """The consumer of the ingest queue (`sqs`, which also dead-letters quarantined messages) or stream."""
    runtime = ingestion.runtime
    dead_letters = None
    if kind == "sqs":
        queue = required(runtime.settings.ingest_dlq_url, "ingest_dlq_url")
        dead_letters = SqsDeadLetterSink(queue, boto3.client("sqs", config=AWS_WRITE_CONFIG))
    return IngestionConsumer(
        service=ingestion.service,
        dead_letters=dead_letters,
        audit_log=runtime.audit_log,
        telemetry=runtime.telemetry,
        clock=runtime.clock,
        kind=kind,
        source=source,
    )
