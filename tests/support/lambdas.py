"""Lambda events and contexts for calling a function's handler in the test's process, and its log lines."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from embedded.emulation.context import LambdaContext

if TYPE_CHECKING:
    import pytest


def sqs_event(*bodies: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS batch of these bodies, the messages named `m-0`, `m-1`, ... in order."""
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"handle-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count), "SenderId": "AIDAEXAMPLE"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for index, body in enumerate(bodies)
        ]
    }


def lambda_context(function: str) -> LambdaContext:
    """The context of one invocation of `function` (a logical id), thirty seconds from its timeout."""
    return LambdaContext(
        function_name=f"leaim-{function}",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:leaim-{function}",
        memory_limit_in_mb="1024",
        aws_request_id="request-1",
        log_group_name=f"/aws/lambda/leaim-{function}",
        log_stream_name="local",
        deadline_monotonic=time.monotonic() + 30,
    )


def warnings_logged(function: Any, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """A function module's log lines above INFO, as its logger's JSON formatter writes them."""
    formatter = function.logger.registered_formatter
    records = [r for r in caplog.records if r.name == function.SERVICE and r.levelno > logging.INFO]
    return [json.loads(formatter.format(record)) for record in records]
