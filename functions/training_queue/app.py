"""Training queue function (LEAIM layer 2): one message per training job, run on the training worker.

Powertools' BatchProcessor reports partial batch failures, so only the failed records come back; a batch whose
records all failed is answered the same way, naming every record, rather than raised as a function error. A message
that names no job is an expected refusal: one log line with its message id and reason. Any other failure keeps its
traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from leaim.bootstrap.lifecycle import build_lifecycle, build_training_consumer
from leaim.bootstrap.runtime import once
from leaim.exceptions import UnreadableJobMessageError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "training-queue"
SOURCE = "TrainingQueueFunction"

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)

# Built on the first invocation of a container and reused by the following ones.
consumer = once(lambda: build_training_consumer(build_lifecycle(SERVICE), source=SOURCE))


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Run one job; raising marks the message failed so SQS redelivers it."""
    receive_count = int(record.attributes.approximate_receive_count)
    try:
        job = consumer().handle(
            record.body,
            message_id=record.message_id,
            receive_count=receive_count,
            invocation_id=lambda_context.aws_request_id,
            remaining_ms=float(lambda_context.get_remaining_time_in_millis()),
        )
    except UnreadableJobMessageError as error:
        logger.warning(
            "message refused",
            extra={"message_id": record.message_id, "receive_count": receive_count, "reason": str(error)},
        )
        raise
    except Exception:
        logger.exception("message failed", extra={"message_id": record.message_id, "receive_count": receive_count})
        raise
    logger.info("training job", extra={"job_id": job.job_id, "state": job.state, "version": job.version})
    metrics.add_metric(name=f"TrainingJobs{job.state.title()}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process an SQS batch and report the records that failed."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
