"""Ingest stream function (LEAIM layer 1): Kinesis batches of records in, stored or quarantined.

The batch is ingested with batched writes and the handler reports partial batch failures itself: Lambda
resumes from the first failed sequence number, so nothing after an unprocessed record is checkpointed.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import KinesisStreamEvent

from leaim.bootstrap.ingestion import build_ingestion, build_ingestion_consumer
from leaim.bootstrap.runtime import once
from leaim.data.consumer import Delivery

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "ingest-stream"
SOURCE = "IngestStreamFunction"

logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
consumer = once(lambda: build_ingestion_consumer(build_ingestion(SERVICE), kind="kinesis", source=SOURCE))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    """Ingest a Kinesis batch and report the first record to retry from."""
    deliveries = [
        Delivery(
            identifier=record.kinesis.sequence_number,
            # Undecodable bytes are kept (as U+FFFD) so the record is quarantined, not retried forever.
            body=base64.b64decode(record.kinesis.data).decode("utf-8", errors="replace"),
            origin=f"kinesis:{record.event_id}",
            attributes={"partition_key": record.kinesis.partition_key},
        )
        for record in KinesisStreamEvent(event).records
    ]
    batch = consumer().handle(deliveries, context.aws_request_id)
    # A quarantined record is an expected refusal: one line with its reason. A failure to store keeps its traceback.
    for identifier, reason in batch.quarantined.items():
        logger.warning("record quarantined", extra={"sequence_number": identifier, "reason": reason})
    for what, error in batch.errors:
        logger.error("records not stored", extra={"what": what}, exc_info=error)
    metrics.add_metric(name="DeliveredRecords", unit=MetricUnit.Count, value=len(deliveries))
    metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=len(batch.failed))
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in batch.failed]}
