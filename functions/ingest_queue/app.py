"""Ingest queue function (LEAIM layer 1): SQS batches of records in, stored or quarantined.

The batch is ingested with batched writes, so the handler reports partial batch failures itself
(Powertools' per-record BatchProcessor would write record by record): only messages whose write failed
come back; a quarantined record is handled, and also kept on the ingest dead-letter queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from leaim.bootstrap.ingestion import build_ingestion, build_ingestion_consumer
from leaim.bootstrap.runtime import once
from leaim.data.consumer import Delivery

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "ingest-queue"
SOURCE = "IngestQueueFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
consumer = once(lambda: build_ingestion_consumer(build_ingestion(SERVICE), kind="sqs", source=SOURCE))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    """Ingest an SQS batch and report the messages to retry."""
    deliveries = [
        Delivery(
            identifier=record.message_id,
            body=record.body,
            origin=f"sqs:{record.message_id}",
            attributes={name: v.string_value for name, v in record.message_attributes.items() if v.string_value},
        )
        for record in SQSEvent(event).records
    ]
    batch = consumer().handle(deliveries, context.aws_request_id)
    # A quarantined record is an expected refusal: one line with its reason. A failure to store keeps its traceback.
    for identifier, reason in batch.quarantined.items():
        logger.warning("record quarantined", extra={"message_id": identifier, "reason": reason})
    for what, error in batch.errors:
        logger.error("records not stored", extra={"what": what}, exc_info=error)
    metrics.add_metric(name="DeliveredRecords", unit=MetricUnit.Count, value=len(deliveries))
    metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=len(batch.failed))
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in batch.failed]}
