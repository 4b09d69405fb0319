"""Concurrent local invocations of one Chalice app each see their own request, as separate Lambda containers do."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalice.app import Chalice

from embedded.emulation.context import LocalFunction, isolate_requests


def _event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": "/echo",
        "path": "/echo",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/echo", "httpMethod": "POST", "requestId": "r", "stage": "test"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def test_concurrent_invocations_read_their_own_request_and_context() -> None:
    app = Chalice(app_name="echo")
    both_inside = threading.Barrier(2, timeout=10)

    @app.route("/echo", methods=["POST"])
    def echo() -> dict[str, Any]:
        assert app.current_request is not None
        body = app.current_request.json_body
        # Both invocations have started before either reads its request: without isolation the later one's
        # request would be what both see.
        both_inside.wait()
        return {"sent": body["n"], "read": app.current_request.json_body["n"], "id": app.lambda_context.aws_request_id}

    function = LocalFunction(
        logical_id="EchoFunction",
        function_name="echo",
        arn="arn:aws:lambda:us-east-1:123456789012:function:echo",
        handler=isolate_requests(app),
        timeout_s=10,
        memory_mb=128,
    )

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda n: json.loads(function.invoke(_event({"n": n}))["body"]), [1, 2]))

    assert [(answer["sent"], answer["read"]) for answer in answers] == [(1, 1), (2, 2)]
    assert answers[0]["id"] != answers[1]["id"]
