"""SQS adapters: the results queue, the dead-letter queues and the training queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from botocore.exceptions import BotoCoreError, ClientError

from leaim.exceptions import DependencyUnavailableError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from contracts.decision.v1 import DecisionResponse

REASON_ATTRIBUTE = "failure_reason"
MAX_ATTRIBUTES = 10


def _string_attributes(values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items() if value}


class SqsResultPublisher:
    """Publishes each decision to the results queue exactly once, keyed by use case and request id.

    Powertools idempotency records the publication in DynamoDB, so a redelivered message whose
    decision was already published does not publish it again.
    """

    def __init__(self, queue_url: str, sqs_client: Any, idempotency_table: str, dynamodb_client: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs_client
        self._config = IdempotencyConfig(event_key_jmespath="[use_case, request_id]", expires_after_seconds=24 * 3600)
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=dynamodb_client)

        # Powertools' decorator is untyped; `send` keeps its own signature.
        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="decision", persistence_store=persistence, config=self._config
        )
        def send(decision: dict[str, Any]) -> dict[str, str]:
            answer = self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=json.dumps(decision, separators=(",", ":")),
                MessageAttributes=_string_attributes(
                    {"use_case": decision["use_case"], "outcome": decision["outcome"], "trace_id": decision["trace_id"]}
                ),
            )
            return {"message_id": answer["MessageId"]}

        self._send = send

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Let idempotency records expire with the invocation that holds them."""
        self._config.register_lambda_context(context)

    def publish(self, decision: DecisionResponse) -> None:
        """Send the decision unless it was sent before."""
        self._send(decision=decision.model_dump(mode="json"))


class SqsDeadLetterSink:
    """Puts a message that can never become a decision on the DLQ, with its reason as an attribute."""

    def __init__(self, queue_url: str, sqs_client: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs_client

    def send(self, body: str, attributes: Mapping[str, str], reason: str) -> None:
        """Keep the body and as many of its attributes as fit beside the reason and the time."""
        extra = {REASON_ATTRIBUTE: _attribute_text(reason)[:1024], "failed_at": datetime.now(UTC).isoformat()}
        # SQS takes ten attributes a message: the message's own keep the room the reason and the time leave.
        kept = dict([(k, v) for k, v in attributes.items() if k not in extra][: MAX_ATTRIBUTES - len(extra)])
        self._sqs.send_message(
            QueueUrl=self._queue_url, MessageBody=body, MessageAttributes=_string_attributes({**kept, **extra})
        )


def _attribute_text(text: str) -> str:
    """`text` with the characters SQS refuses in an attribute value replaced."""
    return "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\U0010ffff" else "?" for c in text)


class SqsJobQueue:
    """The training queue: one message per job, naming it."""

    def __init__(self, queue_url: str, sqs_client: Any) -> None:
        self._queue_url = queue_url
        self._sqs = sqs_client

    def send(self, job_id: str) -> None:
        """Queue a job for the training function; DependencyUnavailableError when SQS does not take it."""
        try:
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps({"job_id": job_id}))
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"training job {job_id} could not be queued: {error}") from error
