"""Abuse monitor function (LEAIM layer 5), run on a schedule: inference abuse per principal and use case.

Each run judges every principal's last window of requests for rate anomalies, probing sweeps and floods of inputs
outside the champion's training baseline, opens and closes abuse alerts, throttles flagged keys whose plan says
so, and stores one audit event with what it found and did.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.abuse import AbuseMonitoring, build_abuse_monitoring
from leaim.bootstrap.scheduled import ScheduledFunction, ScheduledRun
from leaim.governance.oversight.abuse import run_abuse_monitor

function = ScheduledFunction("abuse-monitor", source="AbuseMonitorFunction", build=build_abuse_monitoring)


@function.handler
def lambda_handler(run: ScheduledRun[AbuseMonitoring]) -> dict[str, Any]:
    """Judge every use case with a champion."""
    judged = run_abuse_monitor(run.built.monitor, run.gate, run.invocation_id)
    summary = judged.summary()
    function.logger.info("abuse", extra=summary)
    function.metrics.add_metric(name="AbuseFindings", unit=MetricUnit.Count, value=len(judged.findings))
    function.metrics.add_metric(name="AbuseAlertsOpened", unit=MetricUnit.Count, value=len(judged.opened))
    function.metrics.add_metric(name="KeysThrottled", unit=MetricUnit.Count, value=len(judged.throttles))
    return summary
