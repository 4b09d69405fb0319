"""Promotion controller function (LEAIM layer 2), run on a schedule: judges each challenger on live traffic.

It promotes a challenger that held up, advances a shadow to canary, and rolls back one that did worse
than its champion; every run stores one audit event listing what it decided and changed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.adapters.powertools import scheduled_handler
from leaim.bootstrap.lifecycle import build_lifecycle
from leaim.bootstrap.runtime import once
from leaim.lifecycle.schedules import run_controller

SERVICE = "promotion-controller"
SOURCE = "PromotionControllerFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
lifecycle = once(lambda: build_lifecycle(SERVICE))


@scheduled_handler(logger, metrics)
def lambda_handler(invocation_id: str) -> dict[str, Any]:
    """Judge every use case's challenger and apply the verdicts."""
    built = lifecycle()
    decisions = run_controller(built.controller, built.runtime.schedule_gate(SOURCE), invocation_id)
    for decision in decisions:
        logger.info("promotion", extra={"use_case": decision.use_case, "action": decision.action})
        if decision.action in ("promote", "advance", "rollback"):
            metrics.add_metric(name=f"Promotion{decision.action.title()}", unit=MetricUnit.Count, value=1)
    return {"decisions": [decision.model_dump(mode="json") for decision in decisions]}
