"""Promotion controller function (LEAIM layer 2), run on a schedule: judges each challenger on live traffic.

It promotes a challenger that held up, advances a shadow to canary, and rolls back one that did worse
than its champion; every run stores one audit event listing what it decided and changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap import build_lifecycle, once
from leaim.lifecycle.consumer import run_controller

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "promotion-controller"
SOURCE = "PromotionControllerFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
lifecycle = once(lambda: build_lifecycle(SERVICE))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Judge every use case's challenger and apply the verdicts."""
    built = lifecycle()
    decisions = run_controller(
        built.controller,
        audit_log=built.audit_log,
        telemetry=built.telemetry,
        clock=built.clock,
        invocation_id=context.aws_request_id,
        source=SOURCE,
    )
    for decision in decisions:
        logger.info("promotion", extra={"use_case": decision.use_case, "action": decision.action})
        if decision.action in ("promote", "advance", "rollback"):
            metrics.add_metric(name=f"Promotion{decision.action.title()}", unit=MetricUnit.Count, value=1)
    return {"decisions": [decision.model_dump(mode="json") for decision in decisions]}
