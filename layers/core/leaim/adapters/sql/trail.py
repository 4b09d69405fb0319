"""The audit trail's store on SQL: chains, digests and decisions read in the orders verification needs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import String, and_, func, insert, literal, select, type_coerce, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from contracts.trail.v1 import AuditDigest, ChainHead, SignedDigest, SignedPurge
from leaim.adapters.sql.engine import create_engine_for
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.retention import PURGED_DECISIONS, PURGED_EVENTS, PURGES, REDACTIONS
from leaim.adapters.sql.rows import (
    CHAIN_COLUMNS,
    DECISIONS,
    DIGESTS,
    EVENT_COLUMNS,
    EVENTS,
    STREAM_ROWS,
    read_only_snapshot,
)
from leaim.governance.audit.chain import (
    DECISION_FIELDS,
    DECISION_SHA256,
    EVENT_FIELDS,
    canonical_time,
)
from leaim.governance.audit.exceptions import DigestConflictError
from leaim.governance.audit.ports import (
    ArchivedCopy,
    BoundDecision,
    ChainRange,
    DecisionBinding,
    PurgeTallies,
    StoredDigest,
    StoredLink,
    StoredPurge,
)
from leaim.governance.audit.retention import tally

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy import ColumnElement, Engine, Row, Subquery


# Event ids looked up per query: inside SQLite's limit on bound parameters of old versions (999).
_IDS_PER_LOOKUP = 900


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
            for column in EVENT_COLUMNS
        ]
        statement = select(*raw, *CHAIN_COLUMNS).where(*_in_range(chains))
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

    def decisions(self) -> Iterator[BoundDecision]:
        """Every stored decision's hashed columns with the events that recorded its hash, and the hash its latest
        redaction recorded; streamed."""
        bindings = _bindings()
        latest = (
            select(REDACTIONS.c.decision_id, func.max(REDACTIONS.c.purge_sequence).label("purge_sequence"))
            .group_by(REDACTIONS.c.decision_id)
            .subquery()
        )
        redacted = (
            select(REDACTIONS.c.decision_id, REDACTIONS.c.sha256)
            .join(
                latest,
                and_(
                    latest.c.decision_id == REDACTIONS.c.decision_id,
                    latest.c.purge_sequence == REDACTIONS.c.purge_sequence,
                ),
            )
            .subquery()
        )
        statement = (
            select(
                *(DECISIONS.c[name] for name in DECISION_FIELDS),
                bindings.c.event_id,
                bindings.c.sha256,
                redacted.c.sha256.label("redacted_sha256"),
            )
            .select_from(
                DECISIONS.outerjoin(bindings, bindings.c.decision_id == DECISIONS.c.decision_id).outerjoin(
                    redacted, redacted.c.decision_id == DECISIONS.c.decision_id
                )
            )
            .order_by(DECISIONS.c.decision_id, bindings.c.event_id)
            .execution_options(yield_per=STREAM_ROWS)
        )
        current: BoundDecision | None = None
        for row in self._stream(statement, "decisions"):
            if current is None or row.decision_id != current.decision_id:
                if current is not None:
                    yield current
                content = {name: row._mapping[name] for name in DECISION_FIELDS}
                current = BoundDecision(row.decision_id, content, (), row.redacted_sha256)
            if row.event_id is not None:
                binding = DecisionBinding(row.decision_id, row.event_id, row.sha256)
                current = replace(current, bindings=(*current.bindings, binding))
        if current is not None:
            yield current

    def orphan_bindings(self) -> Iterator[DecisionBinding]:
        """Every event recording the hash of a decision that is not stored, and no purge removed; streamed."""
        bindings = _bindings()
        stored = select(DECISIONS.c.decision_id).where(DECISIONS.c.decision_id == bindings.c.decision_id).exists()
        purged = (
            select(PURGED_DECISIONS.c.decision_id)
            .where(PURGED_DECISIONS.c.decision_id == bindings.c.decision_id)
            .exists()
        )
        statement = (
            select(bindings)
            .where(~stored, ~purged)
            .order_by(bindings.c.decision_id)
            .execution_options(yield_per=STREAM_ROWS)
        )
        for row in self._stream(statement, "decision events"):
            yield DecisionBinding(row.decision_id, row.event_id, row.sha256)

    def purges(self) -> list[StoredPurge]:
        """Every purge receipt in sequence order."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(select(PURGES).order_by(PURGES.c.sequence)).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"purge receipts could not be read: {type(error).__name__}") from error
        stored = []
        for row in rows:
            try:
                stored.append(StoredPurge(row.sequence, SignedPurge.model_validate(row.signed)))
            except ValidationError as error:
                stored.append(StoredPurge(row.sequence, None, f"{error.error_count()} invalid fields"))
        return stored

    def purge_tallies(self) -> dict[int, PurgeTallies]:
        """Per purge sequence, the removed event and decision ids and the redactions the store holds, tallied."""
        entries: dict[int, list[list[str]]] = {}
        sources = (
            (PURGED_EVENTS.c.purge_sequence, PURGED_EVENTS.c.event_id),
            (PURGED_DECISIONS.c.purge_sequence, PURGED_DECISIONS.c.decision_id),
            (REDACTIONS.c.purge_sequence, REDACTIONS.c.decision_id + literal(":") + REDACTIONS.c.sha256),
        )
        for slot, (sequence, entry) in enumerate(sources):
            statement = select(sequence.label("sequence"), entry.label("entry")).execution_options(
                yield_per=STREAM_ROWS
            )
            for row in self._stream(statement, "purged records"):
                entries.setdefault(row.sequence, [[], [], []])[slot].append(row.entry)
        return {
            sequence: PurgeTallies(tally(events), tally(decisions), tally(redactions))
            for sequence, (events, decisions, redactions) in entries.items()
        }

    def digests(self) -> list[StoredDigest]:
        """Every stored digest in sequence order."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(select(DIGESTS).order_by(DIGESTS.c.sequence)).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit digests could not be read: {type(error).__name__}") from error
        return [_stored_digest(row) for row in rows]

    def chained(self, event_ids: Sequence[str]) -> set[str]:
        """Those of `event_ids` whose events are in a chain, or were removed from one by a purge."""
        found: set[str] = set()
        try:
            with self._engine.connect() as connection:
                for start in range(0, len(event_ids), _IDS_PER_LOOKUP):
                    chunk = list(event_ids[start : start + _IDS_PER_LOOKUP])
                    for column in (EVENTS.c.event_id, PURGED_EVENTS.c.event_id):
                        found.update(connection.execute(select(column).where(column.in_(chunk))).scalars())
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"audit events could not be looked up: {type(error).__name__}") from error
        return found

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
                read_only_snapshot(connection)
                yield from connection.execute(statement).partitions()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be read: {type(error).__name__}") from error


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
