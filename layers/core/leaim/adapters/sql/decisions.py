"""Decisions already made, on SQL: by id, or by the caller's request id for idempotent retries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.rows import decision_by_request, decision_maker, decision_of
from leaim.adapters.sql.tables import DecisionRow
from leaim.orchestration.ports import MadeDecision, PriorDecision

if TYPE_CHECKING:
    from sqlalchemy import Engine


class SqlDecisionStore:
    """`DecisionStore` on SQLite or PostgreSQL, reading what `SqlAuditLog.record_decision` stored."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, decision_id: str) -> MadeDecision | None:
        """A stored decision and who made it, or None."""
        try:
            with Session(self._engine) as session:
                row = session.get(DecisionRow, decision_id)
                maker = None if row is None else decision_maker(session, decision_id)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"decision {decision_id!r} could not be read") from error
        return None if row is None else MadeDecision(decision_of(row), maker)

    def by_request(self, use_case: str, request_id: str) -> PriorDecision | None:
        """The decision already made for this request id of `use_case`, with its inputs, or None."""
        try:
            with Session(self._engine) as session:
                row = decision_by_request(session, use_case, request_id)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"decision for request {request_id!r} could not be read") from error
        return None if row is None else PriorDecision(decision_of(row), dict(row.inputs))
