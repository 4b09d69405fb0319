"""Composition of the audit writer function: the accepted store's change stream into the SQL hash chains.

The only function fed by the accepted store: it reads the stream's records into bundles, and chains them in the
SQL audit store through its own writer chain, one per container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.dynamodb_audit import KEY, DynamoAcceptedStore, PoisonBundleError, parse_bundle
from leaim.adapters.sql.intake import SqlAuditIntake
from leaim.bootstrap.runtime import AWS_WRITE_CONFIG, Runtime, build_runtime, required
from leaim.bootstrap.sql import sql_engine
from leaim.governance.audit.intake import AuditWriter, StreamRecord

if TYPE_CHECKING:
    from collections.abc import Mapping

    from leaim.config import Settings

# Of a change stream, the writer takes only new items that are bundles: a request key stays in the accepted store,
# and an item's later changes (its being set aside) are no new acceptance.
_NEW_ITEM = "INSERT"
_NOT_BUNDLES = frozenset({"request"})


@dataclass(frozen=True)
class AuditWriterFunction:
    """What the audit writer function needs: its runtime and the writer over its chain."""

    runtime: Runtime
    writer: AuditWriter


def build_audit_writer(service_name: str, settings: Settings | None = None, *, source: str) -> AuditWriterFunction:
    """The audit writer over the SQL audit store (its schema created where missing) and the accepted store."""
    runtime = build_runtime(service_name, settings)
    settings = runtime.settings
    engine = sql_engine(settings)
    accepted = DynamoAcceptedStore(
        required(settings.accepted_table, "accepted_table"),
        boto3.client("dynamodb", config=AWS_WRITE_CONFIG),
        clock=runtime.clock.now,
    )
    writer = AuditWriter(
        intake=SqlAuditIntake(engine, clock=runtime.clock.now),
        accepted=accepted,
        telemetry=runtime.telemetry,
        clock=runtime.clock,
        source=source,
    )
    return AuditWriterFunction(runtime=runtime, writer=writer)


def stream_records(event: Mapping[str, Any]) -> list[StreamRecord]:
    """The bundles of a DynamoDB Streams event, in stream order; an unreadable one comes with why.

    Records that are no new bundle (a request key, a change to an item) are left out: there is nothing to chain.
    """
    records = []
    for record in event.get("Records", []):
        change = record.get("dynamodb", {})
        image = change.get("NewImage") or {}
        kind = image.get("kind", {}).get("S")
        if record.get("eventName") != _NEW_ITEM or kind in _NOT_BUNDLES:
            continue
        sequence_number = str(change.get("SequenceNumber", ""))
        pk = str(change.get("Keys", {}).get(KEY, {}).get("S") or image.get(KEY, {}).get("S", ""))
        try:
            records.append(StreamRecord(sequence_number, pk, parse_bundle(image)))
        except PoisonBundleError as error:
            records.append(StreamRecord(sequence_number, pk, None, str(error)))
    return records
