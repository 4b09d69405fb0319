"""Decision queue function (LEAIM layer 4): SQS batches in, decisions on the results queue.

Powertools' BatchProcessor reports partial batch failures, so only the failed records come back; a batch whose
records all failed is answered the same way, naming every record, rather than raised as a function error. A poison
message is an expected refusal: one log line with its message id and reason. Any other failure keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from leaim.bootstrap.decisions import build_decision_consumer, build_decisions
from leaim.orchestration.consumer import DeadLettered, QueueRecord
from leaim.orchestration.exceptions import PoisonMessageError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "decision-queue"
SOURCE = "DecisionQueueFunction"

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
logger = Logger(service=SERVICE)
metrics = Metrics(service=SERVICE)


# Built at init, before SnapStart's snapshot and outside every request's deadline, and reused by each batch.
decisions = build_decisions(SERVICE)
consumer, publisher = build_decision_consumer(decisions, source=SOURCE)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Decide one message; raising marks it failed so SQS redelivers it."""
    attributes = {name: value.string_value for name, value in record.message_attributes.items() if value.string_value}
    receive_count = int(record.attributes.approximate_receive_count)
    try:
        outcome = consumer.handle(
            QueueRecord(
                message_id=record.message_id,
                body=record.body,
                receive_count=receive_count,
                attributes=attributes,
                sender_id=record.attributes.sender_id,
            ),
            invocation_id=lambda_context.aws_request_id,
            remaining_ms=float(lambda_context.get_remaining_time_in_millis()),
        )
    except PoisonMessageError as error:
        logger.warning(
            "message refused",
            extra={"message_id": record.message_id, "receive_count": receive_count, "reason": str(error)},
        )
        raise
    except Exception:
        logger.exception("message failed", extra={"message_id": record.message_id, "receive_count": receive_count})
        raise
    if isinstance(outcome, DeadLettered):
        logger.warning(
            "message dead-lettered",
            extra={"message_id": outcome.message_id, "receive_count": receive_count, "reason": outcome.reason},
        )
        return
    logger.info("decision", extra={"trace_id": outcome.trace_id, "outcome": outcome.outcome})
    metrics.add_metric(name="Decisions", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1 if outcome.fallback else 0)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process an SQS batch and report the records that failed."""
    publisher.register_lambda_context(context)
    metrics.add_metric(name="DeliveredRecords", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
