"""Drift monitor function (LEAIM layer 5), run on a schedule: drift and bias of live traffic, alerts, retraining.

Each run compares every live version with its training baseline over the manifest's window, measures bias
per protected attribute, opens and closes alerts, and asks for retraining when a champion drifts; the run
stores one audit event with what it found and started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap import build_lifecycle, build_monitor, once
from leaim.governance.oversight.monitor import run_monitor

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "drift-monitor"
SOURCE = "DriftMonitorFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
lifecycle = once(lambda: build_lifecycle(SERVICE))
monitor = once(lambda: build_monitor(lifecycle()))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Monitor every use case with a live version."""
    built = lifecycle()
    run = run_monitor(
        monitor(),
        audit_log=built.audit_log,
        telemetry=built.telemetry,
        clock=built.clock,
        invocation_id=context.aws_request_id,
        source=SOURCE,
    )
    summary = run.summary()
    logger.info("monitor", extra=summary)
    metrics.add_metric(name="DriftDetected", unit=MetricUnit.Count, value=sum(r.status == "drift" for r in run.drift))
    metrics.add_metric(name="AlertsOpened", unit=MetricUnit.Count, value=len(run.opened))
    metrics.add_metric(name="RetrainingRequested", unit=MetricUnit.Count, value=len(run.retraining))
    return summary
