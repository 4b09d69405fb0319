"""Audit digest function (LEAIM layer 5), run on a schedule: seals the heads of every audit chain.

Each run signs a digest of every chain's head, links it to the digest before and archives it under S3 Object
Lock; `leaim audit verify` checks the chains against them. Every run stores one audit event naming its digest.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.adapters.powertools import scheduled_handler
from leaim.bootstrap.governance import build_audit_digest
from leaim.bootstrap.runtime import once
from leaim.governance.audit.sealing import run_digest

SERVICE = "audit-digest"
SOURCE = "AuditDigestFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
digests = once(lambda: build_audit_digest(SERVICE))


@scheduled_handler(logger, metrics)
def lambda_handler(invocation_id: str) -> dict[str, Any]:
    """Seal, sign and archive a digest of every audit chain's head."""
    built = digests()
    sealed = run_digest(built.sealer, built.runtime.schedule_gate(SOURCE), invocation_id)
    if sealed is None:
        logger.info("digest sealed by a concurrent run")
        return {"digest": None}
    logger.info("digest sealed", extra={"sequence": sealed.signed.digest.sequence, "key": sealed.archived.key})
    metrics.add_metric(name="AuditDigestEvents", unit=MetricUnit.Count, value=sealed.signed.digest.events)
    return {"digest": sealed.signed.model_dump(mode="json"), "archive_key": sealed.archived.key}
