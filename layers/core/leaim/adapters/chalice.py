"""Chalice glue shared by the API functions: a request in as an `Invocation`, an `HttpAnswer` out as a response."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from chalice.app import Response

from leaim.governance.access.gate import Invocation
from leaim.governance.access.headers import SECURITY_HEADERS

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from chalice.app import Chalice, Request

    from leaim.governance.access.gate import HttpAnswer

# Every content type reaches the API, so that no request is answered (unaudited) by the framework alone.
CONTENT_TYPES = ["*/*"]


def current_request(app: Chalice) -> Request:
    """The request a route is serving."""
    request = app.current_request
    if request is None:
        raise RuntimeError("a route ran outside of a request")
    return request


def body_of(request: Request) -> bytes:
    """The raw body, as bytes whatever API Gateway sent."""
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def invocation_of(app: Chalice, request: Request) -> Invocation:
    """The invocation id, lower-cased headers and remaining time of the request being served."""
    context = app.lambda_context
    return Invocation(
        invocation_id=context.aws_request_id,
        headers={name.lower(): value for name, value in request.headers.items()},
        remaining_ms=float(context.get_remaining_time_in_millis()),
    )


def respond(answer: HttpAnswer) -> Response:
    """The answer as a JSON response, or as its text with the content type it names; always with the security
    headers, which no answer's own headers replace."""
    body = answer.text if answer.text is not None else json.dumps(answer.body, separators=(",", ":"))
    return Response(
        body=body,
        status_code=answer.status,
        headers={"content-type": "application/json", **answer.headers, **SECURITY_HEADERS},
    )


def respond_logged(logger: Logger, action: str, answer: HttpAnswer) -> Response:
    """One log line for the invocation, tagged with its trace id, status and error code; then the response."""
    body = answer.body
    logger.info(action, extra={"trace_id": body.get("trace_id"), "status": answer.status, "error": body.get("error")})
    return respond(answer)
