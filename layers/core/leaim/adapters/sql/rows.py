"""The audit store's tables as its adapters read them: the columns they select, and rows made into contracts."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sqlalchemy import text
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from contracts.decision.v1 import DecisionResponse
from leaim.adapters.sql.tables import AuditDigestRow, AuditEventRow, DecisionRow, OutcomeRow, OverrideRow
from leaim.governance.audit.chain import EVENT_FIELDS
from leaim.governance.audit.events import DECISION_ACTION

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table


EVENTS = cast("Table", AuditEventRow.__table__)  # type: ignore[attr-defined]
DECISIONS = cast("Table", DecisionRow.__table__)  # type: ignore[attr-defined]
OUTCOMES = cast("Table", OutcomeRow.__table__)  # type: ignore[attr-defined]
OVERRIDES = cast("Table", OverrideRow.__table__)  # type: ignore[attr-defined]
DIGESTS = cast("Table", AuditDigestRow.__table__)  # type: ignore[attr-defined]

# Rows fetched at a time by the streaming reads (a server-side cursor on PostgreSQL).
STREAM_ROWS = 5_000

EVENT_COLUMNS = [EVENTS.c[name] for name in EVENT_FIELDS]
CHAIN_COLUMNS = [EVENTS.c.chain_id, EVENTS.c.chain_seq, EVENTS.c.prev_hash, EVENTS.c.event_hash]


def decision_by_request(session: Session, use_case: str, request_id: str) -> DecisionRow | None:
    """The decision a use case made for a caller's request id, if any."""
    statement = select_rows(DecisionRow).where(
        col(DecisionRow.use_case) == use_case, col(DecisionRow.request_id) == request_id
    )
    return session.exec(statement).first()


def read_only_snapshot(connection: Connection) -> None:
    """Make a long read of the whole store harmless to the writers it runs beside.

    The engine starts every SQLite transaction with BEGIN IMMEDIATE, the write lock, so that writers queue; a
    verification holding it for a minute would make every audit write time out. It reads in a deferred
    transaction instead: a WAL snapshot that neither waits for writers nor stops them. On PostgreSQL each
    statement reads a snapshot anyway, and only the per-statement time limit is lifted.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("COMMIT")
        connection.exec_driver_sql("BEGIN DEFERRED")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))


def decision_maker(session: Session, decision_id: str) -> str | None:
    """The principal on the event that made decision `decision_id`, or None."""
    statement = (
        select_rows(AuditEventRow.principal)
        .where(
            col(AuditEventRow.decision_id) == decision_id,
            col(AuditEventRow.action) == DECISION_ACTION,
            col(AuditEventRow.outcome).in_(("success", "fallback")),
        )
        .limit(1)
    )
    return session.exec(statement).first()


def decision_of(row: DecisionRow) -> DecisionResponse:
    """The decision as it was answered."""
    return DecisionResponse.model_validate(row.response)
