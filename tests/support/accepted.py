"""Accepted bundles as the accepted store holds them, and as its change stream brings them to the audit writer."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from embedded.emulation.aws import local_session
from embedded.emulation.template import load_template
from leaim.adapters.dynamodb_audit import bundle_item, decision_key, parse_bundle
from leaim.governance.audit.chain import DECISION_SHA256, decision_sha256
from leaim.governance.audit.records import decision_values
from tests.support.audit import decision_event, make_decision, make_event
from tests.support.paths import TEMPLATE

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts.audit.v1 import AuditEvent
    from embedded.emulation.aws import LocalEndpoint
    from leaim.governance.audit.accepted import AcceptedBundle

REGION = "us-east-1"


STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Accepted/stream/2026-01-01T00:00:00.000"


def decision_item(
    request_id: str = "req-1", *, related: int = 1, accepted_at: float | None = None, **decision: Any
) -> dict[str, Any]:
    """The item of a decision's bundle: its row, its own event bound to the row, and `related` worker calls."""
    made = make_decision(request_id=request_id, **decision)
    row = decision_values(made, {"amount": 12.5, "country": "FR"}, {"amount_log": 2.5}, datetime.now(UTC))
    event = decision_event(made, details={"outcome": made.outcome, DECISION_SHA256: decision_sha256(row)})
    calls = [make_event(action="worker.inference", decision_id=made.decision_id) for _ in range(related)]
    when = time.time() if accepted_at is None else accepted_at
    return bundle_item(decision_key(made.decision_id), "decision", [event, *calls], row, when)


def events_item(events: Sequence[AuditEvent] | None = None, *, accepted_at: float | None = None) -> dict[str, Any]:
    """The item of a bundle of plain events (one fresh event when none are given)."""
    chosen = list(events) if events is not None else [make_event(action="ingest.records")]
    when = time.time() if accepted_at is None else accepted_at
    return bundle_item(f"events#{chosen[0].event_id}", "events", chosen, None, when)


def bundle(item: dict[str, Any]) -> AcceptedBundle:
    """The bundle of an item, as the writer reads it."""
    return parse_bundle(item)


def stream_event(items: Sequence[dict[str, Any]], *, first_sequence: int = 100) -> dict[str, Any]:
    """A DynamoDB Streams event of Lambda's, one INSERT record per item, in order."""
    return {
        "Records": [
            {
                "eventID": f"e-{index}",
                "eventName": "INSERT",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN,
                "dynamodb": {
                    "Keys": {"pk": item["pk"]},
                    "NewImage": item,
                    "SequenceNumber": str(first_sequence + index),
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_IMAGE",
                },
            }
            for index, item in enumerate(items)
        ]
    }


def client(endpoint: LocalEndpoint, service: str) -> Any:
    """A boto3 client of moto's server."""
    return local_session(REGION).client(service, endpoint_url=endpoint.url)  # type: ignore[call-overload]


def template_table(endpoint: LocalEndpoint, logical_id: str) -> tuple[str, Any]:
    """A fresh table as `template.yaml` declares `logical_id` (its key, and its stream if it has one), and a client."""
    properties = load_template(TEMPLATE).resources[logical_id].properties
    dynamodb = client(endpoint, "dynamodb")
    name = f"{logical_id}-{uuid.uuid4().hex[:8]}"
    stream = properties.get("StreamSpecification")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
        **({} if stream is None else {"StreamSpecification": {"StreamEnabled": True, **stream}}),
    )
    return name, dynamodb


def accepted_table(endpoint: LocalEndpoint) -> tuple[str, Any]:
    """A fresh accepted store as `template.yaml` declares it (its key and its stream), and a client of it."""
    return template_table(endpoint, "AcceptedTable")


class StreamReader:
    """Reads a table's change stream from its start, as Lambda's event source would, into Lambda's events."""

    def __init__(self, endpoint: LocalEndpoint, table: str) -> None:
        self._streams = client(endpoint, "dynamodbstreams")
        dynamodb = client(endpoint, "dynamodb")
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._iterators: dict[str, str] = {}

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, every shard's, in order."""
        records: list[dict[str, Any]] = []
        for shard in self._streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            iterator = (
                self._iterators.get(shard_id)
                or self._streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            answer = self._streams.get_records(ShardIterator=iterator)
            self._iterators[shard_id] = answer["NextShardIterator"]
            records += [{**record, "eventSourceARN": self.arn} for record in answer["Records"]]
        return records
