"""Audit log and decision store on SQL: every write is one transaction, committed before returning."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse
from leaim.adapters.sql.exceptions import DuplicateDecisionError, StoreUnavailableError
from leaim.adapters.sql.tables import AuditEventRow, DecisionRow
from leaim.exceptions import AuditWriteError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from sqlalchemy import ColumnElement, Engine


class SqlAuditLog:
    """`AuditLog` on SQLite or PostgreSQL, with the read side used by the CLI and by tests."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, event: AuditEvent) -> None:
        """Store one event durably or raise AuditWriteError."""
        self.append_many([event])

    def append_many(self, events: Iterable[AuditEvent]) -> None:
        """Store several events in one transaction: all of them or, with AuditWriteError, none."""
        rows = [_event_row(event) for event in events]
        if not rows:
            return
        try:
            with Session(self._engine) as session, session.begin():
                session.add_all(rows)
        except SQLAlchemyError as error:
            raise AuditWriteError(f"audit events {_ids(rows)} were not stored: {type(error).__name__}") from error

    def record_decision(
        self,
        decision: DecisionResponse,
        inputs: Mapping[str, object],
        event: AuditEvent,
        related: Sequence[AuditEvent] = (),
    ) -> None:
        """Store a decision, its (already minimized) inputs, its audit event and `related` ones in one transaction.

        `related` are the events of the worker calls made for the decision: one commit, one fsync.

        Raises DuplicateDecisionError, carrying the stored decision, when the use case already has a decision
        for this request id, and AuditWriteError when anything else stops the write; either way nothing is kept.
        """
        decision_row = _decision_row(decision, inputs)
        event_row = _event_row(event)
        try:
            with Session(self._engine) as session, session.begin():
                session.add(decision_row)
                session.add(event_row)
                session.add_all(_event_row(extra) for extra in related)
        except IntegrityError as error:
            existing = self._existing_decision(decision)
            if existing is not None:
                raise DuplicateDecisionError(existing) from error
            raise AuditWriteError(
                f"decision {decision.decision_id!r} and audit event {event.event_id!r} were not stored: "
                "a key is already taken"
            ) from error
        except SQLAlchemyError as error:
            raise AuditWriteError(
                f"decision {decision.decision_id!r} and audit event {event.event_id!r} were not stored: "
                f"{type(error).__name__}"
            ) from error

    def count(
        self,
        *,
        trace_id: str | None = None,
        decision_id: str | None = None,
        source: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """Number of stored events matching every given filter."""
        clauses = _filters(
            trace_id=trace_id, decision_id=decision_id, source=source, action=action, outcome=outcome, since=since
        )
        statement = select(func.count()).select_from(AuditEventRow).where(*clauses)
        try:
            with Session(self._engine) as session:
                return session.exec(statement).one()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be counted: {type(error).__name__}") from error

    def events(
        self,
        *,
        trace_id: str | None = None,
        decision_id: str | None = None,
        source: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Stored events matching every given filter, oldest first, at most `limit` of them."""
        clauses = _filters(
            trace_id=trace_id, decision_id=decision_id, source=source, action=action, outcome=outcome, since=since
        )
        statement = (
            select(AuditEventRow)
            .where(*clauses)
            .order_by(col(AuditEventRow.occurred_at), col(AuditEventRow.event_id))
            .limit(limit)
        )
        try:
            with Session(self._engine) as session:
                rows = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be read: {type(error).__name__}") from error
        return [_event(row) for row in rows]

    def _existing_decision(self, decision: DecisionResponse) -> DecisionResponse | None:
        try:
            with Session(self._engine) as session:
                row = _by_request(session, decision.use_case, decision.request_id)
        except SQLAlchemyError as error:
            raise AuditWriteError(
                f"decision {decision.decision_id!r} was not stored and the conflicting one could not be read"
            ) from error
        return None if row is None else _decision(row)


class SqlDecisionStore:
    """`DecisionStore` on SQLite or PostgreSQL, reading what `SqlAuditLog.record_decision` stored."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, decision_id: str) -> DecisionResponse | None:
        """A stored decision, or None."""
        try:
            with Session(self._engine) as session:
                row = session.get(DecisionRow, decision_id)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"decision {decision_id!r} could not be read") from error
        return None if row is None else _decision(row)

    def by_request(self, use_case: str, request_id: str) -> DecisionResponse | None:
        """The decision already made for this request id of `use_case`, or None."""
        try:
            with Session(self._engine) as session:
                row = _by_request(session, use_case, request_id)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"decision for request {request_id!r} could not be read") from error
        return None if row is None else _decision(row)

    def inputs_of(self, decision_id: str) -> dict[str, Any] | None:
        """The minimized inputs a decision was made on, or None."""
        try:
            with Session(self._engine) as session:
                row = session.get(DecisionRow, decision_id)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"inputs of decision {decision_id!r} could not be read") from error
        return None if row is None else dict(row.inputs)


def _by_request(session: Session, use_case: str, request_id: str) -> DecisionRow | None:
    statement = select(DecisionRow).where(
        col(DecisionRow.use_case) == use_case, col(DecisionRow.request_id) == request_id
    )
    return session.exec(statement).first()


def _filters(
    *,
    trace_id: str | None,
    decision_id: str | None,
    source: str | None,
    action: str | None,
    outcome: str | None,
    since: datetime | None,
) -> list[ColumnElement[bool]]:
    equal = {
        col(AuditEventRow.trace_id): trace_id,
        col(AuditEventRow.decision_id): decision_id,
        col(AuditEventRow.source): source,
        col(AuditEventRow.action): action,
        col(AuditEventRow.outcome): outcome,
    }
    clauses = [column == value for column, value in equal.items() if value is not None]
    if since is not None:
        clauses.append(col(AuditEventRow.occurred_at) >= since)
    return clauses


def _event_row(event: AuditEvent) -> AuditEventRow:
    values = event.model_dump()
    values["details"] = _json_document(event.details, f"details of audit event {event.event_id!r}")
    return AuditEventRow(**values)


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent.model_validate({name: getattr(row, name) for name in AuditEvent.model_fields})


def _decision_row(decision: DecisionResponse, inputs: Mapping[str, object]) -> DecisionRow:
    return DecisionRow(
        decision_id=decision.decision_id,
        use_case=decision.use_case,
        request_id=decision.request_id,
        outcome=decision.outcome,
        fallback=decision.fallback,
        model_name=None if decision.model is None else decision.model.name,
        model_version=None if decision.model is None else decision.model.version,
        response=decision.model_dump(mode="json"),
        inputs=_json_document(inputs, f"inputs of decision {decision.decision_id!r}"),
    )


def _decision(row: DecisionRow) -> DecisionResponse:
    return DecisionResponse.model_validate(row.response)


def _json_document(value: Mapping[str, object], what: str) -> dict[str, Any]:
    # Fail here, naming the document, rather than deep inside the driver; NaN and infinity are refused
    # because PostgreSQL's JSONB cannot hold them.
    try:
        document: dict[str, Any] = json.loads(json.dumps(to_jsonable_python(dict(value)), allow_nan=False))
    except ValueError as error:
        raise AuditWriteError(f"{what} cannot be stored as JSON: {error}") from error
    return document


def _ids(rows: list[AuditEventRow]) -> str:
    shown = ", ".join(repr(row.event_id) for row in rows[:3])
    return shown if len(rows) <= 3 else f"{shown} and {len(rows) - 3} more"
