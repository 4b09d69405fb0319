"""Drift monitor function (LEAIM layer 5), run on a schedule: drift and bias of live traffic, alerts, retraining.

Each run compares every live version with its training baseline over the manifest's window, measures bias
per protected attribute, opens and closes alerts, and asks for retraining when a champion drifts; the run
stores one audit event with what it found and started.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.monitoring import Monitoring, build_monitoring
from leaim.bootstrap.scheduled import ScheduledFunction, ScheduledRun
from leaim.governance.oversight.monitor import run_monitor

function = ScheduledFunction("drift-monitor", source="DriftMonitorFunction", build=build_monitoring)


@function.handler
def lambda_handler(run: ScheduledRun[Monitoring]) -> dict[str, Any]:
    """Monitor every use case with a live version."""
    monitored = run_monitor(run.built.monitor, run.gate, run.invocation_id)
    summary = monitored.summary()
    function.logger.info("monitor", extra=summary)
    drifted = sum(report.status == "drift" for report in monitored.drift)
    function.metrics.add_metric(name="DriftDetected", unit=MetricUnit.Count, value=drifted)
    function.metrics.add_metric(name="AlertsOpened", unit=MetricUnit.Count, value=len(monitored.opened))
    function.metrics.add_metric(name="RetrainingRequested", unit=MetricUnit.Count, value=len(monitored.retraining))
    return summary
