"""Exactly one audit event per invocation, stored before the answer goes out."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contracts.audit.v1 import AuditEvent, Outcome
from leaim.exceptions import AuditWriteError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.governance.v1 import RecordedOutcome
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog, Telemetry


# The action of the event of every decision made for a caller, over HTTPS or the decision queue: its principal is
# who made the decision.
DECISION_ACTION = "decision.create"
# The role of a worker call that recomputes a stored decision for an auditor (`details.role`): not live traffic.
REPLAY_ROLE = "replay"


def new_event_id() -> str:
    """A fresh, unique audit event id."""
    return uuid.uuid4().hex


class InvocationAudit:
    """What one invocation did, gathered as it runs, and stored as one audit event at its end.

    The entry point creates one per invocation; whichever path ends the invocation (a decision,
    a rejection, an error) stores the event. Storing twice is a programming error and raises.
    """

    def __init__(
        self,
        log: AuditLog,
        clock: Clock,
        *,
        source: str,
        action: str,
        invocation_id: str,
        trace_id: str,
    ) -> None:
        self._log = log
        self._clock = clock
        self._started = clock.monotonic()
        self._fields: dict[str, Any] = {
            "source": source,
            "action": action,
            "invocation_id": invocation_id,
            "trace_id": trace_id,
        }
        self._stored: AuditEvent | None = None
        # Known before the event is stored, so that what the invocation writes can name its event.
        self._event_id = new_event_id()

    @property
    def event_id(self) -> str:
        """Id the invocation's own event will carry."""
        return self._event_id

    @property
    def stored(self) -> AuditEvent | None:
        """The event once stored, else None."""
        return self._stored

    @property
    def trace_id(self) -> str:
        """Trace id the event will carry."""
        return str(self._fields["trace_id"])

    def note(self, **fields: Any) -> None:
        """Remember fields of the event (principal, use_case, model_version, ...) as they become known."""
        self._fields.update({key: value for key, value in fields.items() if value is not None})

    def event(
        self,
        outcome: Outcome,
        *,
        status_code: int | None = None,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Build the event for this invocation as it stands now."""
        return AuditEvent(
            event_id=self._event_id,
            occurred_at=datetime.fromtimestamp(self._clock.now(), UTC),
            outcome=outcome,
            duration_ms=round((self._clock.monotonic() - self._started) * 1000.0, 3),
            status_code=status_code,
            error=error,
            details=dict(details or {}),
            **self._fields,
        )

    @contextmanager
    def failures_audited(self, details: Mapping[str, Any] | None = None) -> Iterator[None]:
        """Store an `error` event for anything the block raises, unless an event is stored already, and re-raise.

        An AuditWriteError passes through untouched: the store that refused the event will not take another.
        """
        try:
            yield
        except AuditWriteError:
            raise
        except Exception as error:
            if self._stored is None:
                self.store("error", error=f"{type(error).__name__}: {error}", details=details)
            raise

    def store(
        self,
        outcome: Outcome,
        *,
        status_code: int | None = None,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Store the invocation's event durably; raises AuditWriteError if the store refuses it."""
        self._ensure_not_stored()
        event = self.event(outcome, status_code=status_code, error=error, details=details)
        self._log.append(event)
        self._stored = event
        return event

    def store_decision(
        self,
        decision: DecisionResponse,
        inputs: Mapping[str, object],
        *,
        status_code: int,
        related: Sequence[AuditEvent] = (),
        features: Mapping[str, float] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a decision, the features the model scored, the invocation's event (with `details` added to its
        own) and `related` events (its worker calls) in one transaction."""
        self._ensure_not_stored()
        self.note(
            decision_id=decision.decision_id,
            request_id=decision.request_id,
            use_case=decision.use_case,
            model_name=decision.model.name if decision.model else None,
            model_version=decision.model.version if decision.model else None,
            artifact_digest=decision.model.artifact_digest if decision.model else None,
        )
        event = self.event(
            "fallback" if decision.fallback else "success",
            status_code=status_code,
            error=decision.fallback_reason,
            details={
                "outcome": decision.outcome,
                "score": decision.score,
                "latency_ms": decision.latency_ms,
                **(details or {}),
            },
        )
        self._log.record_decision(decision, inputs, event, related, features=features)
        self._stored = event

    def store_override(self, override: Override, use_case: str, *, details: Mapping[str, Any]) -> None:
        """Store a reviewer's override and the invocation's `success` event (status 201) in one transaction.

        Raises RecordExistsError when the decision has an override already; nothing is stored then.
        """
        self._store_created(details, lambda event: self._log.record_override(override, use_case, event))

    def store_outcome(self, outcome: RecordedOutcome, *, details: Mapping[str, Any]) -> None:
        """Store a decision's ground truth and the invocation's `success` event (status 201) in one transaction.

        Raises RecordExistsError when the decision has an outcome already; nothing is stored then.
        """
        self._store_created(details, lambda event: self._log.record_outcome(outcome, event))

    def _store_created(self, details: Mapping[str, Any], write: Callable[[AuditEvent], None]) -> None:
        """Make the invocation's `success` event (status 201) and have `write` store it with its record."""
        self._ensure_not_stored()
        event = self.event("success", status_code=201, details=details)
        write(event)
        self._stored = event

    def _ensure_not_stored(self) -> None:
        if self._stored is not None:
            raise RuntimeError(f"invocation {self._fields['invocation_id']} already has its audit event")


@dataclass(frozen=True, slots=True)
class ScheduleGate:
    """What every scheduled run shares: the audit log its one event goes to, tracing, time, and the function's name.

    The scheduled counterpart of the HTTP gate: a run opens its span and its event with `run`, does its work,
    and stores the event; a failure inside `failures_audited` is stored as the run's error event.
    """

    audit_log: AuditLog
    telemetry: Telemetry
    clock: Clock
    source: str

    @contextmanager
    def run(
        self, span: str, action: str, invocation_id: str, *, principal: str, role: str
    ) -> Iterator[InvocationAudit]:
        """The run's span, and its audit event noted with the principal the schedule acts as."""
        with self.telemetry.span(span):
            audit = InvocationAudit(
                self.audit_log,
                self.clock,
                source=self.source,
                action=action,
                invocation_id=invocation_id,
                trace_id=self.telemetry.trace_id(),
            )
            audit.note(principal=principal, role=role)
            yield audit
