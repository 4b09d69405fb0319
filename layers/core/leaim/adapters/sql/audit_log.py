"""The audit log on SQL: every write is one transaction, committed before returning, and audit search.

Each `SqlAuditLog` writes its own hash chain (`leaim.governance.audit.chain`): its head is kept in memory and
advanced only once a write commits, so a failed transaction leaves the chain as it was. A decision, an
override or an outcome is written in the same transaction as its audit event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, null, or_, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from contracts.audit.v1 import AuditEvent
from contracts.trail.v1 import AuditPage, AuditRecord, ChainHead, ChainLink
from leaim.adapters.sql.chains import WriterChain
from leaim.adapters.sql.exceptions import DuplicateDecisionError, StoreUnavailableError
from leaim.adapters.sql.rows import (
    CHAIN_COLUMNS,
    DECISIONS,
    EVENT_COLUMNS,
    EVENTS,
    OUTCOMES,
    OVERRIDES,
    STREAM_ROWS,
    decision_by_request,
    decision_of,
    read_only_snapshot,
)
from leaim.adapters.sql.tables import utc_now
from leaim.exceptions import AuditWriteError, RecordExistsError
from leaim.governance.audit.chain import (
    DECISION_SHA256,
    EVENT_FIELDS,
    decision_sha256,
    link_events,
)
from leaim.governance.audit.cursor import decode_cursor, encode_cursor
from leaim.governance.audit.records import decision_values, event_values, outcome_values, override_values

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from sqlalchemy import ColumnElement, Connection, Engine, Row, Table
    from sqlalchemy.sql.elements import KeyedColumnElement

    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.governance.v1 import RecordedOutcome
    from leaim.governance.ports import AuditQuery


class SqlAuditLog:
    """`AuditLog` on SQLite or PostgreSQL, writing one hash chain, with the read side used by the APIs and the CLI.

    One instance per container or process: its chain id is made here (`chain_id` continues a stored chain).
    """

    def __init__(self, engine: Engine, *, chain_id: str | None = None) -> None:
        self._engine = engine
        self._chain = WriterChain(engine, chain_id=chain_id)
        self.chain_id = self._chain.chain_id

    def append(self, event: AuditEvent) -> None:
        """Store one event durably or raise AuditWriteError."""
        self.append_many([event])

    def append_many(self, events: Iterable[AuditEvent]) -> None:
        """Store several events in one transaction: all of them or, with AuditWriteError, none."""
        values = [event_values(event) for event in events]
        if not values:
            return
        try:
            self._write(values)
        except SQLAlchemyError as error:
            raise AuditWriteError(f"audit events {_ids(values)} were not stored: {type(error).__name__}") from error

    def record_decision(
        self,
        decision: DecisionResponse,
        inputs: Mapping[str, object],
        event: AuditEvent,
        related: Sequence[AuditEvent] = (),
        *,
        features: Mapping[str, float] | None = None,
    ) -> None:
        """Store a decision, its (already minimized) inputs, its audit event and `related` ones in one transaction.

        `related` are the events of the worker calls made for the decision: one commit, one fsync. `features` is
        the vector the model scored. The decision's event records the sha256 of the stored decision row
        (`decision_sha256` in its details), binding the row to the hash chain.

        Raises DuplicateDecisionError, carrying the stored decision, when the use case already has a decision
        for this request id, and AuditWriteError when anything else stops the write; either way nothing is kept.
        """
        decision_row = decision_values(decision, inputs, features, utc_now())
        bound = event.model_copy(update={"details": {**event.details, DECISION_SHA256: decision_sha256(decision_row)}})
        events = [event_values(item) for item in (bound, *related)]
        try:
            self._write(events, (DECISIONS, _stored_json_null(decision_row)))
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

    def record_override(self, override: Override, use_case: str, event: AuditEvent) -> None:
        """Store a reviewer's override and its audit event in one transaction.

        RecordExistsError when the decision has an override already, AuditWriteError when anything else stops
        the write; either way nothing is kept.
        """
        row = override_values(override, use_case)
        self._write_recorded(event, OVERRIDES, row, f"override of decision {override.review_id!r}")

    def record_outcome(self, outcome: RecordedOutcome, event: AuditEvent) -> None:
        """Store a decision's ground truth and its audit event in one transaction.

        RecordExistsError when the decision has an outcome already, AuditWriteError when anything else stops
        the write; either way nothing is kept.
        """
        row = outcome_values(outcome)
        self._write_recorded(event, OUTCOMES, row, f"outcome of decision {outcome.decision_id!r}")

    def count(self, query: AuditQuery | None = None) -> int:
        """Number of stored events matching `query` (all of them without one)."""
        statement = select(func.count()).select_from(EVENTS).where(*_clauses(query))
        try:
            with self._engine.connect() as connection:
                return int(connection.execute(statement).scalar_one())
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be counted: {type(error).__name__}") from error

    def events(self, query: AuditQuery | None = None, *, limit: int = 1000) -> list[AuditEvent]:
        """Stored events matching `query`, oldest first, at most `limit` of them."""
        statement = select(*EVENT_COLUMNS).where(*_clauses(query)).order_by(*_page_order()).limit(limit)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be read: {type(error).__name__}") from error
        return [_event(row) for row in rows]

    def search(self, query: AuditQuery, *, cursor: str | None, limit: int) -> AuditPage:
        """One page of the events matching `query` with their chain links, ordered by (occurred_at, event_id).

        `cursor` is the page's `next_cursor` before, None for the first page; InvalidCursorError when it is not one.
        """
        if limit < 1:
            raise ValueError(f"a page holds at least one record, not {limit}")
        clauses = _clauses(query)
        if cursor is not None:
            occurred_at, event_id = decode_cursor(cursor)
            clauses.append(
                or_(
                    EVENTS.c.occurred_at > occurred_at,
                    and_(EVENTS.c.occurred_at == occurred_at, EVENTS.c.event_id > event_id),
                )
            )
        statement = select(*EVENT_COLUMNS, *CHAIN_COLUMNS).where(*clauses).order_by(*_page_order()).limit(limit + 1)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be searched: {type(error).__name__}") from error
        records = [_record(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return AuditPage(records=records)
        last = records[-1].event
        return AuditPage(records=records, next_cursor=encode_cursor(last.occurred_at, last.event_id))

    def iter_records(self, query: AuditQuery | None = None) -> Iterator[AuditRecord]:
        """Every event matching `query` with its chain link, ordered by (occurred_at, event_id); streamed."""
        statement = (
            select(*EVENT_COLUMNS, *CHAIN_COLUMNS)
            .where(*_clauses(query))
            .order_by(*_page_order())
            .execution_options(yield_per=STREAM_ROWS)
        )
        try:
            with self._engine.connect() as connection:
                read_only_snapshot(connection)
                for row in connection.execute(statement):
                    yield _record(row)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be exported: {type(error).__name__}") from error

    def _write_recorded(self, event: AuditEvent, table: Table, row: dict[str, Any], what: str) -> None:
        """Commit `row` (keyed by its decision id) and `event` together; RecordExistsError when the key is taken."""
        values = [event_values(event)]
        try:
            self._write(values, (table, row))
        except IntegrityError as error:
            if self._exists(table, row["decision_id"]):
                raise RecordExistsError(f"the {what} is stored already; nothing was stored") from error
            raise AuditWriteError(
                f"the {what} and audit event {event.event_id!r} were not stored: a key is already taken"
            ) from error
        except SQLAlchemyError as error:
            raise AuditWriteError(
                f"the {what} and audit event {event.event_id!r} were not stored: {type(error).__name__}"
            ) from error

    def _exists(self, table: Table, decision_id: str) -> bool:
        statement = select(table.c.decision_id).where(table.c.decision_id == decision_id)
        try:
            with self._engine.connect() as connection:
                return connection.execute(statement).first() is not None
        except SQLAlchemyError as error:
            raise AuditWriteError(
                f"{table.name} of decision {decision_id!r} could not be checked: {type(error).__name__}"
            ) from error

    def _write(self, events: list[dict[str, Any]], row: tuple[Table, dict[str, Any]] | None = None) -> None:
        """Link `events` after this chain's head and commit them (after `row` of its table, when given) in one
        transaction; another writer sharing the chain id makes `WriterChain` read the head and try once more."""

        def transaction(connection: Connection, head: ChainHead | None) -> tuple[None, ChainHead]:
            linked = link_events(self.chain_id, head, events)
            if row is not None:
                table, values = row
                connection.execute(insert(table), values)
            connection.execute(insert(EVENTS), linked)
            last = linked[-1]
            return None, ChainHead(seq=last["chain_seq"], hash=last["event_hash"])

        self._chain.commit(transaction)

    def _existing_decision(self, decision: DecisionResponse) -> DecisionResponse | None:
        try:
            with Session(self._engine) as session:
                row = decision_by_request(session, decision.use_case, decision.request_id)
        except SQLAlchemyError as error:
            raise AuditWriteError(
                f"decision {decision.decision_id!r} was not stored and the conflicting one could not be read"
            ) from error
        return None if row is None else decision_of(row)


def _clauses(query: AuditQuery | None) -> list[ColumnElement[bool]]:
    """The WHERE clauses of `query`: every given field must match."""
    if query is None:
        return []
    equal = {
        EVENTS.c.decision_id: query.decision_id,
        EVENTS.c.use_case: query.use_case,
        EVENTS.c.model_version: query.model_version,
        EVENTS.c.principal: query.principal,
        EVENTS.c.action: query.action,
        EVENTS.c.outcome: query.outcome,
        EVENTS.c.source: query.source,
        EVENTS.c.trace_id: query.trace_id,
    }
    clauses: list[ColumnElement[bool]] = [column == value for column, value in equal.items() if value is not None]
    if query.within is not None:
        clauses.append(EVENTS.c.use_case.in_(query.within))
    if query.since is not None:
        clauses.append(EVENTS.c.occurred_at >= query.since)
    if query.until is not None:
        clauses.append(EVENTS.c.occurred_at < query.until)
    return clauses


def _page_order() -> tuple[KeyedColumnElement[Any], ...]:
    return (EVENTS.c.occurred_at, EVENTS.c.event_id)


def _event(row: Row[Any]) -> AuditEvent:
    mapping = row._mapping
    return AuditEvent.model_validate({name: mapping[name] for name in EVENT_FIELDS})


def _record(row: Row[Any]) -> AuditRecord:
    link = ChainLink(chain_id=row.chain_id, seq=row.chain_seq, prev_hash=row.prev_hash, hash=row.event_hash)
    return AuditRecord(event=_event(row), chain=link)


def _stored_json_null(values: dict[str, Any]) -> dict[str, Any]:
    # A JSON column would store None as the JSON document `null`; no features is SQL NULL instead.
    return {name: null() if value is None and name == "features" else value for name, value in values.items()}


def _ids(values: list[dict[str, Any]]) -> str:
    shown = ", ".join(repr(value["event_id"]) for value in values[:3])
    return shown if len(values) <= 3 else f"{shown} and {len(values) - 3} more"
