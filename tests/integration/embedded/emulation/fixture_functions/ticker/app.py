"""Scheduled handler: records every event it is sent, and fails when the event asks it to."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    """Store the event under the invocation's request id; raise if it is the `{"fail": true}` input."""
    table = boto3.session.Session().resource("dynamodb").Table(os.environ["FIXTURE_TICKS_TABLE"])
    table.put_item(Item={"pk": context.aws_request_id, "event": json.dumps(event)})
    if event.get("fail"):
        raise RuntimeError("the scheduled input asks the fixture handler to fail")
    return {"request_id": context.aws_request_id}
