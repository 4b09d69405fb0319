"""Retention on SQL: legal holds, the records a purge removes, and its receipts (`RetentionStore`)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from contracts.governance.v1 import LegalHold
from contracts.trail.v1 import SignedPurge
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.rows import DECISIONS, EVENTS, OUTCOMES, OVERRIDES
from leaim.adapters.sql.tables import (
    AuditPurgeRow,
    DecisionRedactionRow,
    LegalHoldRow,
    PurgedDecisionRow,
    PurgedEventRow,
)
from leaim.exceptions import ConflictError, NotFoundError
from leaim.governance.audit.chain import DECISION_FIELDS
from leaim.governance.audit.exceptions import PurgeConflictError
from leaim.governance.audit.retention import PARTS, AgedDecision, ExpiredLink, Part, iter_parts

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from sqlalchemy import Connection, Engine

    from leaim.governance.audit.retention import PurgePlan

# Ids per statement: inside SQLite's limit on bound parameters of old versions (999).
_IDS_PER_STATEMENT = 900

PURGES = AuditPurgeRow.__table__  # type: ignore[attr-defined]
PURGED_EVENTS = PurgedEventRow.__table__  # type: ignore[attr-defined]
PURGED_DECISIONS = PurgedDecisionRow.__table__  # type: ignore[attr-defined]
REDACTIONS = DecisionRedactionRow.__table__  # type: ignore[attr-defined]


class SqlRetention:
    """Legal holds and the purge on the audit store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def place_hold(self, use_case: str, reason: str, *, by: str, at: datetime) -> LegalHold:
        """Place a legal hold on the use case's records."""
        row = LegalHoldRow(
            hold_id=f"hold-{uuid.uuid4().hex[:16]}", use_case=use_case, reason=reason, placed_by=by, placed_at=at
        )
        hold = _hold(row)
        self._write(lambda session: session.add(row), f"legal hold on {use_case!r}")
        return hold

    def release_hold(self, use_case: str, hold_id: str, reason: str, *, by: str, at: datetime) -> LegalHold:
        """Release a hold; NotFoundError for another use case's or no hold, ConflictError when released already."""
        try:
            with Session(self._engine) as session:
                row = session.get(LegalHoldRow, hold_id)
                if row is None or row.use_case != use_case:
                    raise NotFoundError(f"use case {use_case!r} has no legal hold {hold_id!r}")
                if row.released_at is not None:
                    raise ConflictError(f"legal hold {hold_id!r} was released at {row.released_at.isoformat()}")
                row.released_by, row.released_at, row.release_reason = by, at, reason
                hold = _hold(row)
                session.add(row)
                session.commit()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"legal hold {hold_id!r} could not be released") from error
        return hold

    def holds(self, use_case: str) -> list[LegalHold]:
        """The use case's holds, newest first."""
        statement = (
            select_rows(LegalHoldRow)
            .where(col(LegalHoldRow.use_case) == use_case)
            .order_by(col(LegalHoldRow.placed_at).desc())
        )
        try:
            with Session(self._engine) as session:
                return [_hold(row) for row in session.exec(statement).all()]
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"legal holds of {use_case!r} could not be read") from error

    def held_use_cases(self) -> set[str]:
        """The use cases with a legal hold on."""
        statement = select(LegalHoldRow.__table__.c.use_case).where(  # type: ignore[attr-defined]
            LegalHoldRow.__table__.c.released_at.is_(None)  # type: ignore[attr-defined]
        )
        return set(self._read(lambda connection: list(connection.execute(statement).scalars()), "legal holds"))

    def last_purge(self) -> SignedPurge | None:
        """The latest stored receipt."""
        statement = select(PURGES.c.signed).order_by(PURGES.c.sequence.desc()).limit(1)
        document = self._read(lambda connection: connection.execute(statement).scalar(), "purge receipts")
        if document is None:
            return None
        try:
            return SignedPurge.model_validate(document)
        except ValidationError as error:
            raise StoreUnavailableError(
                f"the latest purge receipt does not parse: {error.errors()[0]['msg']}"
            ) from error

    def expired_links(self, use_case: str, before: datetime, limit: int) -> list[ExpiredLink]:
        """Up to `limit` links of the use case's events that occurred before `before`, by chain and seq."""
        statement = (
            select(EVENTS.c.chain_id, EVENTS.c.chain_seq, EVENTS.c.prev_hash, EVENTS.c.event_hash, EVENTS.c.event_id)
            .where(EVENTS.c.use_case == use_case, EVENTS.c.occurred_at < before)
            .order_by(EVENTS.c.chain_id, EVENTS.c.chain_seq)
            .limit(limit)
        )
        rows = self._read(lambda connection: connection.execute(statement).all(), f"events of {use_case!r}")
        return [ExpiredLink(*row) for row in rows]

    def expired_decisions(self, use_case: str, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` (decision_id, request_id) of the use case's decisions made before `before`."""
        statement = (
            select(DECISIONS.c.decision_id, DECISIONS.c.request_id)
            .where(DECISIONS.c.use_case == use_case, DECISIONS.c.created_at < before)
            .order_by(DECISIONS.c.created_at)
            .limit(limit)
        )
        rows = self._read(lambda connection: connection.execute(statement).all(), f"decisions of {use_case!r}")
        return [(row.decision_id, row.request_id) for row in rows]

    def aged_decisions(self, use_case: str, before: datetime, limit: int) -> list[AgedDecision]:
        """Up to `limit` of the use case's decisions made before `before` with a part not yet removed."""
        removed = (
            select(
                REDACTIONS.c.decision_id,
                func.sum(case((REDACTIONS.c.parts.contains(","), 2), else_=1)).label("redactions"),
            )
            .group_by(REDACTIONS.c.decision_id)
            .subquery()
        )
        statement = (
            select(*(DECISIONS.c[name] for name in DECISION_FIELDS))
            .select_from(DECISIONS.outerjoin(removed, removed.c.decision_id == DECISIONS.c.decision_id))
            .where(DECISIONS.c.use_case == use_case, DECISIONS.c.created_at < before)
            # Inputs and reasons: a decision with both removed has nothing left to remove.
            .where((removed.c.redactions.is_(None)) | (removed.c.redactions < len(PARTS)))
            .order_by(DECISIONS.c.created_at)
            .limit(limit)
        )

        def read(connection: Connection) -> list[AgedDecision]:
            rows = connection.execute(statement).all()
            parts: dict[str, set[Part]] = {}
            ids = [row.decision_id for row in rows]
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                chunk = ids[start : start + _IDS_PER_STATEMENT]
                lookup = select(REDACTIONS.c.decision_id, REDACTIONS.c.parts).where(REDACTIONS.c.decision_id.in_(chunk))
                for decision_id, text in connection.execute(lookup):
                    parts.setdefault(decision_id, set()).update(iter_parts(text))
            return [
                AgedDecision(
                    decision_id=row.decision_id,
                    created_at=row.created_at,
                    content={name: row._mapping[name] for name in DECISION_FIELDS},
                    removed=frozenset(parts.get(row.decision_id, ())),
                )
                for row in rows
            ]

        aged: list[AgedDecision] = self._read(read, f"decisions of {use_case!r}")
        return aged

    def apply(self, signed: SignedPurge, plan: PurgePlan) -> None:
        """Store the receipt and remove what `plan` names, in one transaction; PurgeConflictError if its sequence is
        taken."""
        purge = signed.purge
        sequence = purge.sequence
        event_ids = [link.event_id for link in plan.links]
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(PURGES),
                    {"sequence": sequence, "created_at": purge.created_at, "signed": signed.model_dump(mode="json")},
                )
                for chunk in _chunks(event_ids):
                    connection.execute(
                        insert(PURGED_EVENTS),
                        [{"event_id": event_id, "purge_sequence": sequence} for event_id in chunk],
                    )
                    connection.execute(delete(EVENTS).where(EVENTS.c.event_id.in_(chunk)))
                for chunk in _chunks(plan.decisions):
                    connection.execute(
                        insert(PURGED_DECISIONS),
                        [{"decision_id": decision_id, "purge_sequence": sequence} for decision_id in chunk],
                    )
                    for table in (OVERRIDES, OUTCOMES, DECISIONS):
                        connection.execute(delete(table).where(table.c.decision_id.in_(chunk)))
                for redaction in plan.redactions:
                    content = redaction.content
                    connection.execute(
                        update(DECISIONS)
                        .where(DECISIONS.c.decision_id == redaction.decision_id)
                        .values(inputs=content["inputs"], features=content["features"], response=content["response"])
                    )
                if plan.redactions:
                    connection.execute(
                        insert(REDACTIONS),
                        [
                            {
                                "decision_id": item.decision_id,
                                "purge_sequence": sequence,
                                "parts": ",".join(item.parts),
                                "sha256": item.sha256,
                            }
                            for item in plan.redactions
                        ],
                    )
        except IntegrityError as error:
            raise PurgeConflictError(f"purge {sequence} was stored by another run") from error
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"purge {sequence} was not applied: {type(error).__name__}") from error

    def _read(self, read: Callable[[Connection], Any], what: str) -> Any:
        try:
            with self._engine.connect() as connection:
                return read(connection)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be read: {type(error).__name__}") from error

    def _write(self, write: Callable[[Session], None], what: str) -> None:
        try:
            with Session(self._engine) as session:
                write(session)
                session.commit()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} was not stored: {type(error).__name__}") from error


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    return [list(ids[start : start + _IDS_PER_STATEMENT]) for start in range(0, len(ids), _IDS_PER_STATEMENT)]


def _hold(row: LegalHoldRow) -> LegalHold:
    return LegalHold(
        hold_id=row.hold_id,
        use_case=row.use_case,
        reason=row.reason,
        placed_by=row.placed_by,
        placed_at=row.placed_at,
        released_by=row.released_by,
        released_at=row.released_at,
        release_reason=row.release_reason,
    )
