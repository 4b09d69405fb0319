"""The decision queue consumer: one message, one governed decision, one published result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.decision.v1 import DecisionMessage
from leaim.exceptions import AuditWriteError, NotFoundError
from leaim.governance.access.gate import field_errors
from leaim.governance.audit.events import DECISION_ACTION, InvocationAudit
from leaim.orchestration.exceptions import InputValidationError, PoisonMessageError, RequestIdReusedError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.decision.v1 import DecisionResponse
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog, DeadLetterSink, Telemetry
    from leaim.orchestration.decisions import DecisionService
    from leaim.orchestration.ports import ResultPublisher

PRINCIPAL_ATTRIBUTE = "principal"
QUEUE_ROLE = "decision_client"


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One delivery of a queue message."""

    message_id: str
    body: str
    receive_count: int
    attributes: Mapping[str, str]
    sender_id: str


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """A poison delivery on its last receive, moved to the dead-letter queue with this reason: handled, not failed."""

    message_id: str
    reason: str


class DecisionConsumer:
    """Turns decision messages into decisions on the results queue, exactly once per request id."""

    def __init__(
        self,
        *,
        service: DecisionService,
        publisher: ResultPublisher,
        dead_letters: DeadLetterSink,
        audit_log: AuditLog,
        telemetry: Telemetry,
        clock: Clock,
        max_receive_count: int,
        source: str,
    ) -> None:
        self._service = service
        self._publisher = publisher
        self._dead_letters = dead_letters
        self._audit_log = audit_log
        self._telemetry = telemetry
        self._clock = clock
        self._max_receive_count = max_receive_count
        self._source = source

    def handle(
        self, record: QueueRecord, invocation_id: str, remaining_ms: float | None
    ) -> DecisionResponse | DeadLettered:
        """Process one delivery. Raises to have it retried (`PoisonMessageError` for a poison message before its
        last receive); a poison message on its last receive is dead-lettered and returned as `DeadLettered`."""
        with (
            self._telemetry.attach(record.attributes),
            self._telemetry.span(
                "sqs.decision", {"message_id": record.message_id, "receive_count": record.receive_count}
            ),
        ):
            audit = InvocationAudit(
                self._audit_log,
                self._clock,
                source=self._source,
                action=DECISION_ACTION,
                invocation_id=f"{invocation_id}:{record.message_id}:{record.receive_count}",
                trace_id=self._telemetry.trace_id(),
            )
            # The sender is who SQS authenticated; the `principal` attribute is only what the sender claims.
            audit.note(principal=f"sqs:{record.sender_id}", role=QUEUE_ROLE)
            try:
                message = self._parse(record)
                audit.note(use_case=message.use_case, request_id=message.request.request_id)
                result = self._service.decide(message.use_case, message.request, audit, remaining_ms=remaining_ms)
            except (PoisonMessageError, NotFoundError, InputValidationError, RequestIdReusedError) as error:
                return self._poison(record, audit, str(error))
            except AuditWriteError:
                raise
            except Exception as error:
                if audit.stored is None:
                    audit.store("error", error=f"{type(error).__name__}: {error}", details=self._attempt(record))
                raise
            with self._telemetry.span("sqs.publish_result"):
                self._publisher.publish(result.response)
            return result.response

    def _parse(self, record: QueueRecord) -> DecisionMessage:
        try:
            payload = json.loads(record.body)
        except (ValueError, RecursionError) as error:
            raise PoisonMessageError(f"body is not valid JSON: {error}") from error
        try:
            return DecisionMessage.model_validate(payload)
        except ValidationError as error:
            fields = "; ".join(f"{f.field}: {f.message}" for f in field_errors(error))
            raise PoisonMessageError(f"message does not match decision.v1: {fields}") from error

    def _poison(self, record: QueueRecord, audit: InvocationAudit, reason: str) -> DeadLettered:
        details = self._attempt(record)
        if record.receive_count < self._max_receive_count:
            audit.store("rejected", error=reason, details={**details, "will_retry": True})
            raise PoisonMessageError(reason)
        # Last delivery: move it to the DLQ ourselves so that it arrives there with its reason. The event
        # is stored first: if the send then fails, the retry finds the message audited, never unaudited.
        audit.store("rejected", error=reason, details={**details, "dead_lettered": True})
        self._dead_letters.send(record.body, {"source_message_id": record.message_id, **record.attributes}, reason)
        return DeadLettered(record.message_id, reason)

    def _attempt(self, record: QueueRecord) -> dict[str, object]:
        return {
            "message_id": record.message_id,
            "receive_count": record.receive_count,
            "claimed_principal": record.attributes.get(PRINCIPAL_ATTRIBUTE),
        }
