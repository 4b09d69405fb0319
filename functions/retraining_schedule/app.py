"""Retraining schedule function (LEAIM layer 2): retrains, on a fresh snapshot, each use case that asks for it.

Each new version is deployed in shadow when it passes its gates, and the promotion controller takes it from
there; every run stores one audit event listing the jobs it queued and the use cases it could not retrain.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.adapters.powertools import scheduled_handler
from leaim.bootstrap.lifecycle import build_lifecycle
from leaim.bootstrap.runtime import once
from leaim.lifecycle.schedules import run_scheduled_retraining

SERVICE = "retraining-schedule"
SOURCE = "RetrainingScheduleFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
lifecycle = once(lambda: build_lifecycle(SERVICE))


@scheduled_handler(logger, metrics)
def lambda_handler(invocation_id: str) -> dict[str, Any]:
    """Queue a retraining job for every use case whose manifest asks for scheduled retraining."""
    built = lifecycle()
    jobs = run_scheduled_retraining(built.jobs, built.runtime.schedule_gate(SOURCE), invocation_id)
    for job in jobs:
        logger.info("retraining queued", extra={"use_case": job.use_case, "job_id": job.job_id})
    metrics.add_metric(name="RetrainingJobsQueued", unit=MetricUnit.Count, value=len(jobs))
    return {"jobs": [job.model_dump(mode="json") for job in jobs]}
