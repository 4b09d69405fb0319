"""Retraining schedule function (LEAIM layer 2): retrains, on a fresh snapshot, each use case that asks for it.

Each new version is deployed in shadow when it passes its gates, and the promotion controller takes it from
there; every run stores one audit event listing the jobs it queued and the use cases it could not retrain.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.lifecycle import Lifecycle, build_lifecycle
from leaim.bootstrap.scheduled import ScheduledFunction, ScheduledRun
from leaim.lifecycle.schedules import run_scheduled_retraining

function = ScheduledFunction("retraining-schedule", source="RetrainingScheduleFunction", build=build_lifecycle)


@function.handler
def lambda_handler(run: ScheduledRun[Lifecycle]) -> dict[str, Any]:
    """Queue a retraining job for every use case whose manifest asks for scheduled retraining."""
    jobs = run_scheduled_retraining(run.built.jobs, run.gate, run.invocation_id)
    for job in jobs:
        function.logger.info("retraining queued", extra={"use_case": job.use_case, "job_id": job.job_id})
    function.metrics.add_metric(name="RetrainingJobsQueued", unit=MetricUnit.Count, value=len(jobs))
    return {"jobs": [job.model_dump(mode="json") for job in jobs]}
