"""Handler that shows its sandbox: which process it runs in, what it kept since its init, what it was told.

An event may ask it to `sleep` (seconds), `print` a line to stdout and `warn` one to stderr, `raise` a ValueError,
`exit` the process with a status, or `answer` with a value as is. API Gateway events get a proxy response.
"""

from __future__ import annotations

import decimal
import json
import os
import sys
import time
import uuid
from typing import Any

SHOWN_VARIABLES = ("FIXTURE_", "AWS_LAMBDA_", "_HANDLER")
SANDBOX = uuid.uuid4().hex
INVOCATIONS = {"count": 0}


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    """Do what the event asks, then describe the sandbox and the context it ran with."""
    INVOCATIONS["count"] += 1
    if "Records" in event:
        return {"batchItemFailures": []}
    request = json.loads(event["body"]) if "httpMethod" in event else event
    time.sleep(float(request.get("sleep", 0)))
    if "print" in request:
        print(request["print"])
    if "warn" in request:
        print(request["warn"], file=sys.stderr)
    if "raise" in request:
        raise ValueError(request["raise"])
    if "exit" in request:
        os._exit(int(request["exit"]))
    if request.get("answer") == "decimal":
        return {"amount": decimal.Decimal("12.5"), "count": decimal.Decimal(3)}
    if request.get("answer") == "set":
        return {1, 2}
    described = {
        "pid": os.getpid(),
        "sandbox": SANDBOX,
        "invocations": INVOCATIONS["count"],
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "log_stream_name": context.log_stream_name,
        "environment": {name: value for name, value in os.environ.items() if name.startswith(SHOWN_VARIABLES)},
    }
    if "httpMethod" in event:
        return {"statusCode": 200, "body": json.dumps(described)}
    return described
