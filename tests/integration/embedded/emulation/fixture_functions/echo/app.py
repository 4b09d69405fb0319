"""Raw API Gateway proxy handler: answers with the event and the wiring it sees."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import boto3


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Serve the fixture routes: echo, binary echo, a secret, a note stored in DynamoDB, a failure and a slow call."""
    resource = event["resource"]
    if resource == "/v1/boom":
        raise RuntimeError("the fixture handler fails on purpose")
    if resource == "/v1/slow":
        time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)
    if resource == "/v1/files/{proxy+}":
        payload = base64.b64decode(event["body"]) if event["isBase64Encoded"] else (event["body"] or "").encode()
        return {
            "statusCode": 200,
            "multiValueHeaders": {"Content-Type": ["application/octet-stream"], "X-Part": ["one", "two"]},
            "headers": {"X-Request-Base64": str(event["isBase64Encoded"]).lower()},
            "body": base64.b64encode(payload[::-1]).decode("ascii"),
            "isBase64Encoded": True,
        }
    if resource == "/v1/secrets/{variable}":
        # What the secret named by one of the function's variables holds, read as a function reads it in AWS.
        secrets = boto3.session.Session().client("secretsmanager")
        arn = os.environ[event["pathParameters"]["variable"]]
        return {"statusCode": 200, "body": secrets.get_secret_value(SecretId=arn)["SecretString"]}
    if resource == "/v1/notes":
        note = json.loads(event["body"])
        table = boto3.session.Session().resource("dynamodb").Table(os.environ["FIXTURE_DELIVERIES_TABLE"])
        table.put_item(Item={"pk": f"note#{note['id']}", "text": note["text"]})
        return {"statusCode": 201, "headers": {"Location": f"/v1/notes/{note['id']}"}, "body": ""}
    body = {
        "event": event,
        "environment": {name: value for name, value in os.environ.items() if name.startswith("FIXTURE_")},
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
