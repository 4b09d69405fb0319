"""Ports of the audit trail: the SQL store's chains, digests and decisions, and the write-once digest archive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from contracts.trail.v1 import ChainHead, PurgeTally, SignedDigest, SignedPurge


class StoredLink(NamedTuple):
    """One stored event with its chain columns, as the store holds them (a tuple: a million are read per verify).

    `event` holds the row's values by column name, its chain columns included.
    """

    chain_id: str
    seq: int
    prev_hash: str
    hash: str
    event: Mapping[str, Any]

    @property
    def event_id(self) -> str:
        """The event's id as stored."""
        return str(self.event["event_id"])


@dataclass(frozen=True, slots=True)
class ChainRange:
    """The chains whose ids are at least `low` and below `high`, in the store's order; None leaves a side open."""

    low: str | None = None
    high: str | None = None
    links: int = 0


@dataclass(frozen=True, slots=True)
class DecisionBinding:
    """An audit event that records the hash of the decision it stored."""

    decision_id: str
    event_id: str
    sha256: str


@dataclass(frozen=True, slots=True)
class BoundDecision:
    """A stored decision's `DECISION_FIELDS` as the store holds them, and the events that recorded its hash."""

    decision_id: str
    content: Mapping[str, Any]
    bindings: tuple[DecisionBinding, ...]
    # The hash of its columns the latest purge that removed its inputs or reasons recorded; None if none did.
    redacted_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ArchivedCopy:
    """Where the archive keeps one digest."""

    key: str
    version_id: str


@dataclass(frozen=True, slots=True)
class StoredDigest:
    """A digest as the store holds it: `signed` is None (and `unreadable` says why) when its row does not parse."""

    sequence: int
    signed: SignedDigest | None
    archived: ArchivedCopy | None
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class StoredPurge:
    """A purge receipt as the store holds it: `signed` is None (and `unreadable` says why) when it does not parse."""

    sequence: int
    signed: SignedPurge | None
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeTallies:
    """What the store holds of one purge's removals, tallied as its receipt tallies them."""

    events: PurgeTally
    decisions: PurgeTally
    redactions: PurgeTally


@dataclass(frozen=True, slots=True)
class ArchivedDigest:
    """What the archive holds for one digest: every version of its object, the latest one's body and lock."""

    sequence: int
    key: str
    version_ids: tuple[str, ...]
    body: bytes
    lock_mode: str | None


class TrailStore(Protocol):
    """The chains, digests and decisions of the audit store, read in the orders verification needs."""

    def links(self, chains: ChainRange | None = None) -> Iterator[StoredLink]:
        """Every stored event (of the chains in `chains`), chain by chain, each chain in seq order; streamed."""
        ...

    def chain_ranges(self, parts: int) -> list[ChainRange]:
        """At most `parts` ranges covering every chain id, each holding about as many links as the others."""
        ...

    def decisions(self) -> Iterator[BoundDecision]:
        """Every stored decision with the events that recorded its hash; streamed."""
        ...

    def orphan_bindings(self) -> Iterator[DecisionBinding]:
        """Every event recording the hash of a decision that is not stored, and no purge removed; streamed."""
        ...

    def purges(self) -> list[StoredPurge]:
        """Every purge receipt in sequence order."""
        ...

    def purge_tallies(self) -> dict[int, PurgeTallies]:
        """Per purge sequence, the removed event and decision ids and the redactions the store holds, tallied."""
        ...

    def digests(self) -> list[StoredDigest]:
        """Every stored digest in sequence order."""
        ...

    def chained(self, event_ids: Sequence[str]) -> set[str]:
        """Those of `event_ids` whose events are in a chain, or were removed from one by a purge."""
        ...

    def chain_heads(self) -> dict[str, ChainHead]:
        """The head of every chain now."""
        ...

    def add_digest(self, signed: SignedDigest) -> None:
        """Store a sealed digest; DigestConflictError when its sequence is taken."""
        ...

    def record_archive(self, sequence: int, copy: ArchivedCopy) -> None:
        """Remember where the archive keeps digest `sequence`."""
        ...


class DigestArchive(Protocol):
    """Write-once storage of signed digests, out of reach of whoever can edit the audit store."""

    @property
    def location(self) -> str:
        """Where the archive is, for messages (s3://bucket/prefix)."""
        ...

    def put(self, signed: SignedDigest) -> ArchivedCopy:
        """Keep `signed` locked for the retention period; the same copy again is accepted, another refused."""
        ...

    def copies(self) -> Iterator[ArchivedDigest]:
        """Every archived digest."""
        ...
