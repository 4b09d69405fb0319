"""SQS handler driven by each message body: `{"id": ..., "outcome": "succeed" | "fail" | "raise"}`.

Every delivery is counted in the deliveries table first, so tests can see how often each message was handled.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Count each delivery; report `fail` records as batch item failures; raise if any record says `raise`."""
    table = boto3.session.Session().resource("dynamodb").Table(os.environ["FIXTURE_DELIVERIES_TABLE"])
    orders = [(record, json.loads(record["body"])) for record in event["Records"]]
    for record, order in orders:
        table.update_item(
            Key={"pk": order["id"]},
            UpdateExpression="ADD deliveries :one SET outcome = :outcome, receive_count = :count",
            ExpressionAttributeValues={
                ":one": 1,
                ":outcome": order["outcome"],
                ":count": int(record["attributes"]["ApproximateReceiveCount"]),
            },
        )
    if any(order["outcome"] == "raise" for _, order in orders):
        raise RuntimeError("a record asked the fixture worker to fail the batch")
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record, order in orders if order["outcome"] == "fail"
        ]
    }
