"""Audit writer function (LEAIM layer 5): the accepted store's change stream in, the SQL hash chains extended.

Each batch of DynamoDB Streams records is stored in one transaction, every event exactly once; the handler reports
batch item failures itself, since the batch is one transaction rather than one call per record: Lambda resumes
from the lowest sequence number reported, so nothing after an unstored record is checkpointed. A bundle the store
can never take is set aside in the accepted store with its reason, logged, and not retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from leaim.bootstrap.runtime import once
from leaim.bootstrap.writer import build_audit_writer, stream_records

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "audit-writer"
SOURCE = "AuditWriterFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones: one writer chain per container.
function = once(lambda: build_audit_writer(SERVICE, source=SOURCE))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    """Chain a batch of accepted bundles and report the first record to retry from."""
    report = function().writer.drain(stream_records(event), context.aws_request_id)
    for item in report.set_aside:
        logger.error(
            "bundle set aside", extra={"pk": item.pk, "sequence_number": item.sequence_number, "reason": item.reason}
        )
    if report.retry_from:
        logger.warning("batch not stored", extra={"error": report.error, "retry_from": report.retry_from[0]})
    metrics.add_metric(name="AuditRecords", unit=MetricUnit.Count, value=report.records)
    metrics.add_metric(name="AuditEventsChained", unit=MetricUnit.Count, value=report.events)
    metrics.add_metric(name="AuditEventsDuplicate", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="AuditBundlesSetAside", unit=MetricUnit.Count, value=len(report.set_aside))
    metrics.add_metric(name="AuditRecordsRetried", unit=MetricUnit.Count, value=len(report.retry_from))
    if report.lag_s is not None:
        metrics.add_metric(name="AuditIntakeLag", unit=MetricUnit.Seconds, value=report.lag_s)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in report.retry_from]}
