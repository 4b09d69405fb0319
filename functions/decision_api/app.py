"""Decision API function (LEAIM layer 4). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.orchestration.api.DecisionApi` (and its
`DecisionReplayApi`), which authenticate, validate, decide, render notices or replay, and audit; this module only
maps results to HTTP and metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice

from leaim.adapters.chalice import CONTENT_TYPES, body_of, current_request, invocation_of, respond
from leaim.bootstrap.decisions import build_decision_api, build_decision_replay_api, build_decisions

if TYPE_CHECKING:
    from chalice.app import Response

    from leaim.governance.access.gate import HttpAnswer

SERVICE = "decision-api"
SOURCE = "DecisionApiFunction"

app = Chalice(app_name="leaim-decision-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)


# Built at init, before SnapStart's snapshot and outside every request's deadline, and reused by each request.
decisions = build_decisions(SERVICE)
decision_api = build_decision_api(decisions, source=SOURCE)
replay_api = build_decision_replay_api(decisions, source=SOURCE)


# API Gateway allows one variable name per path level: `id` is the use case when posting, the
# decision when reading.
@app.route("/v1/decisions/{id}", methods=["POST"], content_types=CONTENT_TYPES)
def create_decision(**path: str) -> Response:
    """Make a governed decision for the use case named by the path."""
    request = current_request(app)
    answer = decision_api.create(path["id"], body_of(request), invocation_of(app, request))
    _observe("decision.create", answer)
    return respond(answer)


@app.route("/v1/decisions/{id}", methods=["GET"], content_types=CONTENT_TYPES)
def get_decision(**path: str) -> Response:
    """Return the decision named by the path."""
    answer = decision_api.read(path["id"], invocation_of(app, current_request(app)))
    _observe("decision.read", answer)
    return respond(answer)


@app.route("/v1/decisions/{id}/replay", methods=["POST"], content_types=CONTENT_TYPES)
def replay_decision(**path: str) -> Response:
    """Recompute the decision named by the path, and say what differs and why."""
    request = current_request(app)
    answer = replay_api.replay(path["id"], body_of(request), invocation_of(app, request))
    _observe("decision.replay", answer)
    return respond(answer)


@app.route("/v1/decisions/{id}/notice", methods=["GET"], content_types=CONTENT_TYPES)
def decision_notice(**path: str) -> Response:
    """The adverse-action notice of the decision named by the path, with its principal reasons."""
    answer = decision_api.notice(path["id"], invocation_of(app, current_request(app)))
    _observe("decision.notice", answer)
    return respond(answer)


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
