"""Drift monitor function (LEAIM layer 5), run on a schedule: drift and bias of live traffic, alerts, retraining.

Each run compares every live version with its training baseline over the manifest's window, measures bias
per protected attribute, opens and closes alerts, and asks for retraining when a champion drifts; the run
stores one audit event with what it found and started.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.adapters.powertools import scheduled_handler
from leaim.bootstrap.governance import build_monitor
from leaim.bootstrap.lifecycle import build_lifecycle
from leaim.bootstrap.runtime import once
from leaim.governance.oversight.monitor import run_monitor

SERVICE = "drift-monitor"
SOURCE = "DriftMonitorFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
lifecycle = once(lambda: build_lifecycle(SERVICE))
monitor = once(lambda: build_monitor(lifecycle()))


@scheduled_handler(logger, metrics)
def lambda_handler(invocation_id: str) -> dict[str, Any]:
    """Monitor every use case with a live version."""
    run = run_monitor(monitor(), lifecycle().runtime.schedule_gate(SOURCE), invocation_id)
    summary = run.summary()
    logger.info("monitor", extra=summary)
    metrics.add_metric(name="DriftDetected", unit=MetricUnit.Count, value=sum(r.status == "drift" for r in run.drift))
    metrics.add_metric(name="AlertsOpened", unit=MetricUnit.Count, value=len(run.opened))
    metrics.add_metric(name="RetrainingRequested", unit=MetricUnit.Count, value=len(run.retraining))
    return summary
