"""Governance API function (LEAIM layer 5). The Chalice `app` object is the Lambda handler.

Routes translate API Gateway requests into calls on `leaim.governance.api.GovernanceApi`, which
authenticates, validates, reads and writes the oversight store and audits; this module only maps results
to HTTP and emits the override metric.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice

from leaim.adapters.chalice import CONTENT_TYPES, body_of, current_request, invocation_of, respond_logged
from leaim.bootstrap.governance import build_governance_api, build_oversight
from leaim.bootstrap.runtime import once

if TYPE_CHECKING:
    from chalice.app import Request, Response


SERVICE = "governance-api"
SOURCE = "GovernanceApiFunction"

app = Chalice(app_name="leaim-governance-api")
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first request of a container and reused by the following ones.
governance_api = once(lambda: build_governance_api(build_oversight(SERVICE), source=SOURCE))


@app.route("/v1/audit/events", methods=["GET"], content_types=CONTENT_TYPES)
def audit_events() -> Response:
    """Search the audit trail, or export it as JSON lines or CSV."""
    request = current_request(app)
    return respond_logged(
        logger, "audit.search", governance_api().audit_events(_query(request), invocation_of(app, request))
    )


# API Gateway allows one variable name per path level: `id` is the decision here, as on the decision API's routes.
@app.route("/v1/decisions/{id}/outcome", methods=["POST"], content_types=CONTENT_TYPES)
def record_outcome(**path: str) -> Response:
    """Record a decision's ground truth."""
    request = current_request(app)
    answer = governance_api().record_outcome(path["id"], body_of(request), invocation_of(app, request))
    return respond_logged(logger, "decision.outcome", answer)


@app.route("/v1/decisions/{id}/explanation", methods=["GET"], content_types=CONTENT_TYPES)
def explanation(**path: str) -> Response:
    """The reasons and contributions stored with a decision."""
    request = current_request(app)
    return respond_logged(
        logger, "decision.explanation", governance_api().explanation(path["id"], invocation_of(app, request))
    )


@app.route("/v1/reviews", methods=["GET"], content_types=CONTENT_TYPES)
def list_reviews() -> Response:
    """Decisions waiting for a reviewer."""
    request = current_request(app)
    return respond_logged(
        logger, "review.list", governance_api().list_reviews(_query(request), invocation_of(app, request))
    )


@app.route("/v1/reviews/{review_id}", methods=["GET"], content_types=CONTENT_TYPES)
def read_review(review_id: str) -> Response:
    """One review, pending or resolved."""
    request = current_request(app)
    return respond_logged(logger, "review.read", governance_api().read_review(review_id, invocation_of(app, request)))


@app.route("/v1/reviews/{review_id}", methods=["POST"], content_types=CONTENT_TYPES)
def override(review_id: str) -> Response:
    """A reviewer's final outcome and justification."""
    request = current_request(app)
    answer = governance_api().override(review_id, body_of(request), invocation_of(app, request))
    if answer.status == 201:
        # A new override; the same one sent again (200) is not counted twice.
        metrics.add_metric(name="ReviewOverrides", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()
    return respond_logged(logger, "review.override", answer)


@app.route("/v1/use-cases/{use_case}/drift", methods=["GET"], content_types=CONTENT_TYPES)
def drift(use_case: str) -> Response:
    """The latest drift report of each live version, and the history."""
    request = current_request(app)
    return respond_logged(logger, "monitor.drift.read", governance_api().drift(use_case, invocation_of(app, request)))


@app.route("/v1/use-cases/{use_case}/bias", methods=["GET"], content_types=CONTENT_TYPES)
def bias(use_case: str) -> Response:
    """The latest bias indicators per protected attribute and version."""
    request = current_request(app)
    return respond_logged(logger, "monitor.bias.read", governance_api().bias(use_case, invocation_of(app, request)))


@app.route("/v1/use-cases/{use_case}/quality", methods=["GET"], content_types=CONTENT_TYPES)
def quality(use_case: str) -> Response:
    """AUC, precision and recall per version over time, from recorded outcomes."""
    request = current_request(app)
    answer = governance_api().quality(use_case, _query(request), invocation_of(app, request))
    return respond_logged(logger, "monitor.quality.read", answer)


@app.route("/v1/use-cases/{use_case}/kpis", methods=["GET"], content_types=CONTENT_TYPES)
def kpis(use_case: str) -> Response:
    """The use case's process KPIs over a window."""
    request = current_request(app)
    answer = governance_api().kpis(use_case, _query(request), invocation_of(app, request))
    return respond_logged(logger, "governance.kpis", answer)


@app.route("/v1/use-cases/{use_case}/legal-holds", methods=["GET"], content_types=CONTENT_TYPES)
def legal_holds(use_case: str) -> Response:
    """The use case's legal holds."""
    request = current_request(app)
    answer = governance_api().legal_holds(use_case, invocation_of(app, request))
    return respond_logged(logger, "retention.holds.read", answer)


@app.route("/v1/use-cases/{use_case}/legal-holds", methods=["POST"], content_types=CONTENT_TYPES)
def place_legal_hold(use_case: str) -> Response:
    """Place a legal hold on the use case's records."""
    request = current_request(app)
    answer = governance_api().place_legal_hold(use_case, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "retention.hold", answer)


@app.route("/v1/use-cases/{use_case}/legal-holds/{hold_id}/release", methods=["POST"], content_types=CONTENT_TYPES)
def release_legal_hold(use_case: str, hold_id: str) -> Response:
    """Release a legal hold."""
    request = current_request(app)
    answer = governance_api().release_legal_hold(use_case, hold_id, body_of(request), invocation_of(app, request))
    return respond_logged(logger, "retention.hold.release", answer)


@app.route("/v1/alerts", methods=["GET"], content_types=CONTENT_TYPES)
def alerts() -> Response:
    """Open drift and bias alerts."""
    request = current_request(app)
    return respond_logged(
        logger, "monitor.alerts.read", governance_api().alerts(_query(request), invocation_of(app, request))
    )


@app.route("/v1/usage", methods=["GET"], content_types=CONTENT_TYPES)
def usage() -> Response:
    """Decisions per use case, version and principal."""
    request = current_request(app)
    return respond_logged(
        logger, "analytics.usage", governance_api().usage(_query(request), invocation_of(app, request))
    )


@app.route("/v1/governance/coverage", methods=["GET"], content_types=CONTENT_TYPES)
def coverage() -> Response:
    """The governance coverage report."""
    request = current_request(app)
    return respond_logged(
        logger, "governance.coverage", governance_api().coverage(_query(request), invocation_of(app, request))
    )


# The one route that asks for no key: GovernanceApi.openapi_document says why this function serves it.
@app.route("/openapi.json", methods=["GET"], content_types=CONTENT_TYPES)
def openapi_document() -> Response:
    """The OpenAPI document of every API, to anyone."""
    request = current_request(app)
    return respond_logged(logger, "openapi.read", governance_api().openapi_document(invocation_of(app, request)))


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})
