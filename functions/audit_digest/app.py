"""Audit digest function (LEAIM layer 5), run on a schedule: seals the heads of every audit chain.

Each run signs a digest of every chain's head, links it to the digest before and archives it under S3 Object
Lock; `leaim audit verify` checks the chains against them. Every run stores one audit event naming its digest.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.digests import AuditDigests, build_audit_digest
from leaim.bootstrap.scheduled import ScheduledFunction, ScheduledRun
from leaim.governance.audit.sealing import run_digest

function = ScheduledFunction("audit-digest", source="AuditDigestFunction", build=build_audit_digest)


@function.handler
def lambda_handler(run: ScheduledRun[AuditDigests]) -> dict[str, Any]:
    """Seal, sign and archive a digest of every audit chain's head."""
    sealed = run_digest(run.built.sealer, run.gate, run.invocation_id)
    if sealed is None:
        function.logger.info("digest sealed by a concurrent run")
        return {"digest": None}
    function.logger.info("digest sealed", extra={"sequence": sealed.signed.digest.sequence, "key": sealed.archived.key})
    function.metrics.add_metric(name="AuditDigestEvents", unit=MetricUnit.Count, value=sealed.signed.digest.events)
    return {"digest": sealed.signed.model_dump(mode="json"), "archive_key": sealed.archived.key}
