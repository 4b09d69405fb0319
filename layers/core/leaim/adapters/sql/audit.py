"""Audit log, audit trail and decision store on SQL: every write is one transaction, committed before returning.

Each `SqlAuditLog` writes its own hash chain (`leaim.governance.audit`): its head is kept in memory and advanced
only once a write commits, so a failed transaction leaves the chain as it was.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from pydantic_core import to_json
from sqlalchemy import String, and_, func, insert, null, or_, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col
from sqlmodel import select as select_rows

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse, Override
from contracts.trail.v1 import AuditDigest, AuditPage, AuditRecord, ChainHead, ChainLink, SignedDigest
from leaim.adapters.sql.engine import create_engine_for
from leaim.adapters.sql.exceptions import DuplicateDecisionError, StoreUnavailableError
from leaim.adapters.sql.tables import AuditDigestRow, AuditEventRow, DecisionRow, OutcomeRow, OverrideRow, utc_now
from leaim.exceptions import AuditWriteError, RecordExistsError
from leaim.governance.audit.chain import (
    DECISION_FIELDS,
    DECISION_SHA256,
    EVENT_FIELDS,
    canonical_time,
    decision_sha256,
    link_events,
)
from leaim.governance.audit.cursor import decode_cursor, encode_cursor
from leaim.governance.audit.exceptions import DigestConflictError
from leaim.governance.audit.ports import (
    ArchivedCopy,
    ChainRange,
    DecisionBinding,
    StoredDecision,
    StoredDigest,
    StoredLink,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from sqlalchemy import ColumnElement, Connection, Engine, Row, Subquery, Table
    from sqlalchemy.sql.elements import KeyedColumnElement

    from contracts.governance.v1 import RecordedOutcome
    from leaim.governance.ports import AuditQuery

EVENTS = cast("Table", AuditEventRow.__table__)  # type: ignore[attr-defined]
DECISIONS = cast("Table", DecisionRow.__table__)  # type: ignore[attr-defined]
OUTCOMES = cast("Table", OutcomeRow.__table__)  # type: ignore[attr-defined]
OVERRIDES = cast("Table", OverrideRow.__table__)  # type: ignore[attr-defined]
DIGESTS = cast("Table", AuditDigestRow.__table__)  # type: ignore[attr-defined]
# Rows fetched at a time by the streaming reads (a server-side cursor on PostgreSQL).
STREAM_ROWS = 5_000
_EVENT_COLUMNS = [EVENTS.c[name] for name in EVENT_FIELDS]
_CHAIN_COLUMNS = [EVENTS.c.chain_id, EVENTS.c.chain_seq, EVENTS.c.prev_hash, EVENTS.c.event_hash]


class SqlAuditLog:
    """`AuditLog` on SQLite or PostgreSQL, writing one hash chain, with the read side used by the APIs and the CLI.

    One instance per container or process: its chain id is made here (`chain_id` continues a stored chain).
    """

    def __init__(self, engine: Engine, *, chain_id: str | None = None) -> None:
        self._engine = engine
        self.chain_id = chain_id or f"w-{uuid.uuid4().hex}"
        self._chain_lock = threading.Lock()
        self._head: ChainHead | None = None
        # A fresh chain id has no stored links; a given one may, and its head is read before the first write.
        self._head_known = chain_id is None

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
        decision_values = _decision_values(decision, inputs, features)
        bound = event.model_copy(
            update={"details": {**event.details, DECISION_SHA256: decision_sha256(decision_values)}}
        )
        events = [event_values(item) for item in (bound, *related)]
        try:
            self._write(events, (DECISIONS, _stored_json_null(decision_values)))
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
        row = {
            "decision_id": override.review_id,
            "use_case": use_case,
            "original_outcome": override.original_outcome,
            "outcome": override.outcome,
            "justification": override.justification,
            "reviewer": override.reviewer,
            "reviewed_at": override.reviewed_at,
            "event_id": override.event_id,
        }
        self._write_recorded(event, OVERRIDES, row, f"override of decision {override.review_id!r}")

    def record_outcome(self, outcome: RecordedOutcome, event: AuditEvent) -> None:
        """Store a decision's ground truth and its audit event in one transaction.

        RecordExistsError when the decision has an outcome already, AuditWriteError when anything else stops
        the write; either way nothing is kept.
        """
        row = {
            "decision_id": outcome.decision_id,
            "use_case": outcome.use_case,
            "label": outcome.label,
            "observed_at": outcome.observed_at,
            "source": outcome.source,
            "reported_by": outcome.reported_by,
            "recorded_at": outcome.recorded_at,
        }
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
        statement = select(*_EVENT_COLUMNS).where(*_clauses(query)).order_by(*_page_order()).limit(limit)
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
        statement = select(*_EVENT_COLUMNS, *_CHAIN_COLUMNS).where(*clauses).order_by(*_page_order()).limit(limit + 1)
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
            select(*_EVENT_COLUMNS, *_CHAIN_COLUMNS)
            .where(*_clauses(query))
            .order_by(*_page_order())
            .execution_options(yield_per=STREAM_ROWS)
        )
        try:
            with self._engine.connect() as connection:
                _read_only_snapshot(connection)
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
        transaction.

        The unique (chain_id, chain_seq) index stops two writers that share a chain id: the head is then read
        from the store and the write tried once more.
        """
        with self._chain_lock:
            if not self._head_known:
                self._head = self._stored_head()
                self._head_known = True
            try:
                self._commit(events, row)
            except IntegrityError:
                stored = self._stored_head()
                if stored == self._head:
                    raise
                self._head = stored
                self._commit(events, row)

    def _commit(self, events: list[dict[str, Any]], row: tuple[Table, dict[str, Any]] | None) -> None:
        linked = link_events(self.chain_id, self._head, events)
        with self._engine.begin() as connection:
            if row is not None:
                table, values = row
                connection.execute(insert(table), values)
            connection.execute(insert(EVENTS), linked)
        last = linked[-1]
        self._head = ChainHead(seq=last["chain_seq"], hash=last["event_hash"])

    def _stored_head(self) -> ChainHead | None:
        statement = (
            select(EVENTS.c.chain_seq, EVENTS.c.event_hash)
            .where(EVENTS.c.chain_id == self.chain_id)
            .order_by(EVENTS.c.chain_seq.desc())
            .limit(1)
        )
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else ChainHead(seq=row.chain_seq, hash=row.event_hash)

    def _existing_decision(self, decision: DecisionResponse) -> DecisionResponse | None:
        try:
            with Session(self._engine) as session:
                row = _by_request(session, decision.use_case, decision.request_id)
        except SQLAlchemyError as error:
            raise AuditWriteError(
                f"decision {decision.decision_id!r} was not stored and the conflicting one could not be read"
            ) from error
        return None if row is None else _decision(row)


class SqlAuditTrail:
    """`TrailStore` on SQLite or PostgreSQL: the chains, digests and decision bindings, read for verification.

    It pickles as its database URL, so that a verification's worker processes each open their own engine.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def at(cls, url: str) -> SqlAuditTrail:
        """The trail of the store at `url`, whose schema exists."""
        return cls(create_engine_for(url))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (SqlAuditTrail.at, (self._engine.url.render_as_string(hide_password=False),))

    def links(self, chains: ChainRange | None = None) -> Iterator[StoredLink]:
        """Every stored event (of the chains in `chains`), chain by chain in seq order; streamed.

        Timestamps and details are read as the driver gives them, skipping SQLAlchemy's conversions: SQLite's
        text is turned into the canonical forms directly, which is most of what a full verification costs.
        """
        raw = [
            type_coerce(column, String).label(column.name) if column.name in ("occurred_at", "details") else column
            for column in _EVENT_COLUMNS
        ]
        statement = select(*raw, *_CHAIN_COLUMNS).where(*_in_range(chains))
        statement = statement.order_by(EVENTS.c.chain_id, EVENTS.c.chain_seq).execution_options(yield_per=STREAM_ROWS)
        names = (*EVENT_FIELDS, "chain_id", "chain_seq", "prev_hash", "event_hash")
        for rows in self._stream_partitions(statement, "audit chains"):
            for row in rows:
                event = dict(zip(names, row))  # noqa: B905 - the statement selects exactly these
                occurred_at, details = event["occurred_at"], event["details"]
                if type(occurred_at) is str:
                    event["occurred_at"] = _sqlite_time(occurred_at)
                if type(details) is str:
                    event["details"] = {} if details == "{}" else _json_or_text(details)
                yield StoredLink(row.chain_id, row.chain_seq, row.prev_hash, row.event_hash, event)

    def chain_ranges(self, parts: int) -> list[ChainRange]:
        """At most `parts` ranges of chain ids covering every chain, each holding about as many links as the others."""
        statement = (
            select(EVENTS.c.chain_id, func.max(EVENTS.c.chain_seq).label("links"))
            .group_by(EVENTS.c.chain_id)
            .order_by(EVENTS.c.chain_id)
        )
        try:
            with self._engine.connect() as connection:
                sizes = [(row.chain_id, int(row.links)) for row in connection.execute(statement)]
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit chains could not be counted: {type(error).__name__}") from error
        share = max(1, sum(links for _, links in sizes) // max(parts, 1))
        ranges: list[ChainRange] = []
        low: str | None = None
        held = 0
        for chain_id, links in sizes:
            if held >= share and len(ranges) < parts - 1:
                ranges.append(ChainRange(low=low, high=chain_id, links=held))
                low, held = chain_id, 0
            held += links
        ranges.append(ChainRange(low=low, high=None, links=held))
        return ranges

    def decisions(self) -> Iterator[StoredDecision]:
        """Every stored decision's hashed columns with the events that recorded its hash; streamed."""
        bindings = _bindings()
        statement = (
            select(*(DECISIONS.c[name] for name in DECISION_FIELDS), bindings.c.event_id, bindings.c.sha256)
            .select_from(DECISIONS.outerjoin(bindings, bindings.c.decision_id == DECISIONS.c.decision_id))
            .order_by(DECISIONS.c.decision_id, bindings.c.event_id)
            .execution_options(yield_per=STREAM_ROWS)
        )
        current: StoredDecision | None = None
        for row in self._stream(statement, "decisions"):
            if current is None or row.decision_id != current.decision_id:
                if current is not None:
                    yield current
                content = {name: row._mapping[name] for name in DECISION_FIELDS}
                current = StoredDecision(row.decision_id, content, ())
            if row.event_id is not None:
                binding = DecisionBinding(row.decision_id, row.event_id, row.sha256)
                current = replace(current, bindings=(*current.bindings, binding))
        if current is not None:
            yield current

    def orphan_bindings(self) -> Iterator[DecisionBinding]:
        """Every event recording the hash of a decision that is not stored; streamed."""
        bindings = _bindings()
        stored = select(DECISIONS.c.decision_id).where(DECISIONS.c.decision_id == bindings.c.decision_id).exists()
        statement = (
            select(bindings).where(~stored).order_by(bindings.c.decision_id).execution_options(yield_per=STREAM_ROWS)
        )
        for row in self._stream(statement, "decision events"):
            yield DecisionBinding(row.decision_id, row.event_id, row.sha256)

    def digests(self) -> list[StoredDigest]:
        """Every stored digest in sequence order."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(select(DIGESTS).order_by(DIGESTS.c.sequence)).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit digests could not be read: {type(error).__name__}") from error
        return [_stored_digest(row) for row in rows]

    def chain_heads(self) -> dict[str, ChainHead]:
        """The last link of every chain."""
        last = (
            select(EVENTS.c.chain_id, func.max(EVENTS.c.chain_seq).label("seq")).group_by(EVENTS.c.chain_id).subquery()
        )
        statement = select(EVENTS.c.chain_id, EVENTS.c.chain_seq, EVENTS.c.event_hash).join(
            last, and_(EVENTS.c.chain_id == last.c.chain_id, EVENTS.c.chain_seq == last.c.seq)
        )
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit chain heads could not be read: {type(error).__name__}") from error
        return {row.chain_id: ChainHead(seq=row.chain_seq, hash=row.event_hash) for row in rows}

    def add_digest(self, signed: SignedDigest) -> None:
        """Store a sealed digest; DigestConflictError when its sequence is taken."""
        digest = signed.digest
        values = {
            "sequence": digest.sequence,
            "created_at": digest.created_at,
            "heads": {chain: head.model_dump() for chain, head in digest.heads.items()},
            "events": digest.events,
            "previous_hash": digest.previous_hash,
            "digest_hash": signed.digest_hash,
            "signature": signed.signature,
            "key_id": signed.key_id,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(DIGESTS), values)
        except IntegrityError as error:
            raise DigestConflictError(f"digest {digest.sequence} was sealed by another run") from error
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"digest {digest.sequence} was not stored: {type(error).__name__}") from error

    def record_archive(self, sequence: int, copy: ArchivedCopy) -> None:
        """Remember where the archive keeps digest `sequence`."""
        statement = (
            update(DIGESTS)
            .where(DIGESTS.c.sequence == sequence)
            .values(archive_key=copy.key, archive_version_id=copy.version_id)
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(statement)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(
                f"the archived copy of digest {sequence} was not recorded: {type(error).__name__}"
            ) from error

    def _stream(self, statement: Any, what: str) -> Iterator[Row[Any]]:
        for rows in self._stream_partitions(statement, what):
            yield from rows

    def _stream_partitions(self, statement: Any, what: str) -> Iterator[Sequence[Row[Any]]]:
        try:
            with self._engine.connect() as connection:
                _read_only_snapshot(connection)
                yield from connection.execute(statement).partitions()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be read: {type(error).__name__}") from error


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
    statement = select_rows(DecisionRow).where(
        col(DecisionRow.use_case) == use_case, col(DecisionRow.request_id) == request_id
    )
    return session.exec(statement).first()


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
    if query.since is not None:
        clauses.append(EVENTS.c.occurred_at >= query.since)
    if query.until is not None:
        clauses.append(EVENTS.c.occurred_at < query.until)
    return clauses


def _page_order() -> tuple[KeyedColumnElement[Any], ...]:
    return (EVENTS.c.occurred_at, EVENTS.c.event_id)


def _in_range(chains: ChainRange | None) -> list[ColumnElement[bool]]:
    if chains is None:
        return []
    clauses = []
    if chains.low is not None:
        clauses.append(EVENTS.c.chain_id >= chains.low)
    if chains.high is not None:
        clauses.append(EVENTS.c.chain_id < chains.high)
    return clauses


def _bindings() -> Subquery:
    """The events that recorded the hash of the decision they stored: (decision_id, event_id, sha256)."""
    recorded = EVENTS.c.details[DECISION_SHA256].as_string()
    return (
        select(EVENTS.c.decision_id, EVENTS.c.event_id, recorded.label("sha256"))
        .where(EVENTS.c.decision_id.is_not(None), recorded.is_not(None))
        .subquery()
    )


def _read_only_snapshot(connection: Connection) -> None:
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


def _json_or_text(stored: str) -> Any:
    try:
        return json.loads(stored)
    except ValueError:
        # Not JSON any more: hashed as it is, it cannot match its link.
        return stored


def _sqlite_time(text: str) -> str:
    """SQLite's stored text of a UTC timestamp (`2025-03-14 09:26:53.589793`) in its canonical form."""
    if len(text) == 26 and text[10] == " ":
        return f"{text[:10]}T{text[11:]}+00:00"
    try:
        return canonical_time(datetime.fromisoformat(text))
    except ValueError:
        # Not a timestamp any more: hashed as it is, it cannot match its link.
        return text


def event_values(event: AuditEvent) -> dict[str, Any]:
    """The event's column values; its details as the store will give them back."""
    if not math.isfinite(event.duration_ms):
        raise AuditWriteError(f"audit event {event.event_id!r} has a duration of {event.duration_ms}")
    values = event.__dict__.copy()
    if event.details:
        values["details"] = _json_document(event.details, f"details of audit event {event.event_id!r}")
    return values


def _event(row: Row[Any]) -> AuditEvent:
    mapping = row._mapping
    return AuditEvent.model_validate({name: mapping[name] for name in EVENT_FIELDS})


def _record(row: Row[Any]) -> AuditRecord:
    link = ChainLink(chain_id=row.chain_id, seq=row.chain_seq, prev_hash=row.prev_hash, hash=row.event_hash)
    return AuditRecord(event=_event(row), chain=link)


def _decision_values(
    decision: DecisionResponse, inputs: Mapping[str, object], features: Mapping[str, float] | None
) -> dict[str, Any]:
    """The decisions row, column for column, as it will be stored and hashed."""
    what = f"decision {decision.decision_id!r}"
    return {
        "decision_id": decision.decision_id,
        "use_case": decision.use_case,
        "request_id": decision.request_id,
        "outcome": decision.outcome,
        "fallback": decision.fallback,
        "model_name": None if decision.model is None else decision.model.name,
        "model_version": None if decision.model is None else decision.model.version,
        "score": decision.score,
        "review_required": decision.review_required,
        "response": decision.model_dump(mode="json"),
        "inputs": _json_document(inputs, f"inputs of {what}"),
        "features": None if features is None else _json_document(features, f"features of {what}"),
        "created_at": utc_now(),
    }


def _stored_json_null(values: dict[str, Any]) -> dict[str, Any]:
    # A JSON column would store None as the JSON document `null`; no features is SQL NULL instead.
    return {name: null() if value is None and name == "features" else value for name, value in values.items()}


def _decision(row: DecisionRow) -> DecisionResponse:
    return DecisionResponse.model_validate(row.response)


def _stored_digest(row: Row[Any]) -> StoredDigest:
    archived = None
    if row.archive_key is not None and row.archive_version_id is not None:
        archived = ArchivedCopy(key=row.archive_key, version_id=row.archive_version_id)
    try:
        digest = AuditDigest(
            sequence=row.sequence,
            created_at=row.created_at,
            heads=row.heads,
            events=row.events,
            previous_hash=row.previous_hash,
        )
        signed = SignedDigest(digest=digest, digest_hash=row.digest_hash, key_id=row.key_id, signature=row.signature)
    except ValidationError as error:
        first = error.errors()[0]
        reason = f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"
        return StoredDigest(sequence=row.sequence, signed=None, archived=archived, unreadable=reason)
    return StoredDigest(sequence=row.sequence, signed=signed, archived=archived)


def _json_document(value: Mapping[str, object], what: str) -> dict[str, Any]:
    # Fail here, naming the document, rather than deep inside the driver; NaN and infinity are refused
    # because PostgreSQL's JSONB cannot hold them.
    try:
        document: dict[str, Any] = _JSON.decode(to_json(dict(value)).decode())
    except ValueError as error:
        raise AuditWriteError(f"{what} cannot be stored as JSON: {error}") from error
    return document


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def _ids(values: list[dict[str, Any]]) -> str:
    shown = ", ".join(repr(value["event_id"]) for value in values[:3])
    return shown if len(values) <= 3 else f"{shown} and {len(values) - 3} more"
