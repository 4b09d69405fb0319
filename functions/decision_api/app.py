"""Decision API function (LEAIM layer 4). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.orchestration.api.DecisionApi`, which
authenticates, validates, decides and audits; this module only maps results to HTTP and metrics.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice, Response

from leaim.bootstrap import build_core, build_decision_api
from leaim.orchestration.api import Invocation

if TYPE_CHECKING:
    from chalice.app import Request

    from leaim.orchestration.api import DecisionApi, HttpAnswer

SERVICE = "decision-api"
SOURCE = "DecisionApiFunction"
# Every content type reaches the API, so that no request is answered (unaudited) by the framework alone.
CONTENT_TYPES = ["*/*"]

app = Chalice(app_name="leaim-decision-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)


_build_lock = threading.Lock()


@functools.cache
def _built() -> DecisionApi:
    return build_decision_api(build_core(SERVICE), source=SOURCE)


def decision_api() -> DecisionApi:
    """Built on the first request of a container and reused by the following ones."""
    # Concurrent first requests (the local stack serves on threads) must not build two of everything.
    with _build_lock:
        return _built()


# API Gateway allows one variable name per path level: `id` is the use case when posting, the
# decision when reading.
@app.route("/v1/decisions/{id}", methods=["POST"], content_types=CONTENT_TYPES)
def create_decision(**path: str) -> Response:
    """Make a governed decision for the use case named by the path."""
    request = _current_request()
    raw = request.raw_body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    answer = decision_api().create(path["id"], body, _invocation(request))
    _observe("decision.create", answer)
    return _respond(answer)


@app.route("/v1/decisions/{id}", methods=["GET"], content_types=CONTENT_TYPES)
def get_decision(**path: str) -> Response:
    """Return the decision named by the path."""
    answer = decision_api().read(path["id"], _invocation(_current_request()))
    _observe("decision.read", answer)
    return _respond(answer)


def _current_request() -> Request:
    request = app.current_request
    if request is None:
        raise RuntimeError("a route ran outside of a request")
    return request


def _invocation(request: Request) -> Invocation:
    context = app.lambda_context
    headers = {name.lower(): value for name, value in request.headers.items()}
    return Invocation(
        invocation_id=context.aws_request_id,
        headers=headers,
        remaining_ms=float(context.get_remaining_time_in_millis()),
    )


def _respond(answer: HttpAnswer) -> Response:
    return Response(
        body=json.dumps(answer.body, separators=(",", ":")),
        status_code=answer.status,
        headers={"content-type": "application/json", **answer.headers},
    )


def _observe(action: str, answer: HttpAnswer) -> None:
    """One log line and the EMF metrics of the invocation, tagged with its trace id."""
    body = answer.body
    logger.info(
        action,
        extra={
            "trace_id": body.get("trace_id"),
            "status": answer.status,
            "decision_id": body.get("decision_id"),
            "outcome": body.get("outcome"),
            "fallback": body.get("fallback"),
            "error": body.get("error"),
        },
    )
    if action != "decision.create":
        return
    outcome = body.get("outcome") if answer.status == 200 else f"http_{answer.status}"
    with single_metric(name="Decisions", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        metric.add_dimension(name="outcome", value=str(outcome))
    if answer.status == 200:
        metrics.add_metric(name="DecisionLatency", unit=MetricUnit.Milliseconds, value=float(body["latency_ms"]))
        metrics.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1 if body.get("fallback") else 0)
        metrics.flush_metrics()
