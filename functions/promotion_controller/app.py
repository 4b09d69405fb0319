"""Promotion controller function (LEAIM layer 2), run on a schedule: judges each challenger on live traffic.

It promotes a challenger that held up, advances a shadow to canary, and rolls back one that did worse
than its champion; every run stores one audit event listing what it decided and changed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.lifecycle import Lifecycle, build_lifecycle
from leaim.bootstrap.scheduled import ScheduledFunction, ScheduledRun
from leaim.lifecycle.schedules import run_controller

function = ScheduledFunction("promotion-controller", source="PromotionControllerFunction", build=build_lifecycle)


@function.handler
def lambda_handler(run: ScheduledRun[Lifecycle]) -> dict[str, Any]:
    """Judge every use case's challenger and apply the verdicts."""
    decisions = run_controller(run.built.controller, run.gate, run.invocation_id)
    for decision in decisions:
        function.logger.info("promotion", extra={"use_case": decision.use_case, "action": decision.action})
        if decision.action in ("promote", "advance", "rollback"):
            function.metrics.add_metric(name=f"Promotion{decision.action.title()}", unit=MetricUnit.Count, value=1)
    return {"decisions": [decision.model_dump(mode="json") for decision in decisions]}
