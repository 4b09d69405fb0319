"""DynamoDB Streams handler driven by each new item's `outcome`: `succeed`, `fail` (a batch item failure) or `raise`.

Every delivery is counted in the deliveries table first, with the record as received, so tests can see how often
each item was handled and what the function was sent.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Count each delivery; report `fail` items as batch item failures; raise if any item says `raise`."""
    table = boto3.session.Session().resource("dynamodb").Table(os.environ["FIXTURE_DELIVERIES_TABLE"])
    outcomes = [(record, record["dynamodb"]["NewImage"]["outcome"]["S"]) for record in event["Records"]]
    for record, outcome in outcomes:
        table.update_item(
            Key={"pk": f"entry#{record['dynamodb']['Keys']['pk']['S']}"},
            UpdateExpression="ADD deliveries :one SET outcome = :outcome, received = :record",
            ExpressionAttributeValues={":one": 1, ":outcome": outcome, ":record": json.dumps(record)},
        )
    if any(outcome == "raise" for _, outcome in outcomes):
        raise RuntimeError("an item asked the fixture entries handler to fail the batch")
    failed = [record["dynamodb"]["SequenceNumber"] for record, outcome in outcomes if outcome == "fail"]
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
