"""Kinesis handler: counts each record's deliveries and fails the whole batch when a record says `raise`."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    """Count every delivery, then raise if any record of the batch asks for it."""
    table = boto3.session.Session().resource("dynamodb").Table(os.environ["FIXTURE_DELIVERIES_TABLE"])
    changes = [json.loads(base64.b64decode(record["kinesis"]["data"])) for record in event["Records"]]
    for change in changes:
        table.update_item(
            Key={"pk": f"change#{change['id']}"},
            UpdateExpression="ADD deliveries :one SET outcome = :outcome",
            ExpressionAttributeValues={":one": 1, ":outcome": change["outcome"]},
        )
    if any(change["outcome"] == "raise" for change in changes):
        raise RuntimeError("a record asked the fixture stream handler to fail the batch")
