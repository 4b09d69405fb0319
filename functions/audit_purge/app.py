"""Audit purge function (LEAIM layer 5), run on a schedule: removes what each use case keeps no longer.

Each run removes the audit events, decisions, inputs and reasons past their use case's retention, except under a
legal hold and only where a digest sealed them, and stores a signed receipt of what it removed in the same
transaction, so that `leaim audit verify` stays green. Every run stores one audit event naming its receipt.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.retention import AuditPurges, build_audit_purge
from leaim.bootstrap.scheduled import ScheduledFunction, ScheduledRun
from leaim.governance.audit.retention import purge_details, run_purge

function = ScheduledFunction("audit-purge", source="AuditPurgeFunction", build=build_audit_purge)


@function.handler
def lambda_handler(run: ScheduledRun[AuditPurges]) -> dict[str, Any]:
    """Purge every use case past its retention."""
    result = run_purge(run.built.purger, run.gate, run.invocation_id)
    if result is None:
        function.logger.info("purged by a concurrent run")
        return {"purge": None}
    details = purge_details(result)
    function.logger.info("purge", extra=details)
    function.metrics.add_metric(name="PurgedEvents", unit=MetricUnit.Count, value=details.get("events") or 0)
    function.metrics.add_metric(name="PurgedDecisions", unit=MetricUnit.Count, value=details.get("decisions") or 0)
    return details
