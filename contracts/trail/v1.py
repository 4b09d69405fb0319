"""Audit trail contract, version 1: each stored audit event is a link of a hash chain.

Every writer (one per Lambda container or process) appends to its own chain: link `seq` carries the hash of
link `seq - 1` (64 zeros for the first) and its own hash over its chain position and the whole event. A
digest seals the heads of every chain at one moment, links to the previous digest by hash, is signed with
Ed25519 and archived under S3 Object Lock; `leaim audit verify` checks all of it.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from contracts._base import Contract, Instant
from contracts.audit.v1 import AuditEvent

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ProblemKind = Literal[
    "modified",
    "missing",
    "reordered",
    "truncated",
    "deleted",
    "decision_modified",
    "digest",
    # Reconciliation of the accepted store with the chains: an accepted event in no chain, a bundle set aside.
    "unchained",
    "set_aside",
    # A purge receipt that does not verify, or does not account for what it removed.
    "purge",
]


class ChainLink(Contract):
    """Where an event sits in its writer's hash chain."""

    chain_id: str
    seq: int = Field(ge=1, description="Position in the chain, from 1, without gaps.")
    prev_hash: Sha256 = Field(description="Hash of the link before, 64 zeros for the first link.")
    hash: Sha256 = Field(description="sha256 of the canonical bytes of the chain position and the event.")


class AuditRecord(Contract):
    """A stored audit event with its place in the hash chain."""

    event: AuditEvent
    chain: ChainLink


class AuditPage(Contract):
    """One page of an audit search, oldest first; `next_cursor` fetches the next page."""

    records: list[AuditRecord]
    next_cursor: str | None = Field(default=None, description="Opaque; absent on the last page.")


class ChainHead(Contract):
    """The last link of a chain when a digest was sealed."""

    seq: int = Field(ge=1)
    hash: Sha256


class AuditDigest(Contract):
    """The heads of every chain at one moment, linked to the digest before; its canonical bytes are signed."""

    schema_version: Literal["trail.v1"] = "trail.v1"
    sequence: int = Field(ge=1, description="1 for the first digest, then one more each time.")
    created_at: Instant
    heads: dict[str, ChainHead] = Field(description="Chain id to its head.")
    events: int = Field(ge=0, description="Events in all chains up to their heads.")
    previous_hash: Sha256 = Field(description="digest_hash of the digest before, 64 zeros for the first.")

    def canonical_bytes(self) -> bytes:
        """The bytes that are hashed and signed: JSON with sorted keys and no whitespace."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


class SignedDigest(Contract):
    """A digest, the sha256 of its canonical bytes and the Ed25519 signature of those bytes."""

    schema_version: Literal["trail.v1"] = "trail.v1"
    digest: AuditDigest
    digest_hash: Sha256
    key_id: str = Field(description="First 16 hex digits of the sha256 of the raw public key.")
    signature: str = Field(description="Base64 of the 64-byte Ed25519 signature.")


class PurgedRange(Contract):
    """Consecutive links of one chain removed by a purge: the hashes on both sides keep the chain verifiable."""

    chain_id: str
    first_seq: int = Field(ge=1)
    last_seq: int = Field(ge=1)
    prev_hash: Sha256 = Field(description="The prev_hash of the first link removed: the hash of the link before it.")
    last_hash: Sha256 = Field(description="The hash of the last link removed: the prev_hash of the link after it.")
    links_sha256: Sha256 = Field(description="sha256 over the hashes of the links removed, in seq order.")


class PurgeTally(Contract):
    """What a purge removed of one kind, as a count and a sha256 over the sorted entries (ids, or id:hash)."""

    count: int = Field(ge=0)
    sha256: Sha256


class AuditPurge(Contract):
    """One purge: the links, decisions and decision parts it removed, sealed by digest `sealed_by` before removal;
    linked to the purge before and signed with the audit signing key, so the chains stay verifiable without them."""

    schema_version: Literal["trail.v1"] = "trail.v1"
    sequence: int = Field(ge=1, description="1 for the first purge, then one more each time.")
    created_at: Instant
    sealed_by: int = Field(ge=1, description="The digest that sealed every link removed.")
    cutoffs: dict[str, dict[str, Instant]] = Field(
        description="Per use case, the time before which each kind of record was removed."
    )
    ranges: list[PurgedRange]
    events: PurgeTally = Field(description="The events removed, by event id.")
    decisions: PurgeTally = Field(description="The decisions removed, by decision id.")
    redactions: PurgeTally = Field(
        description="The decisions whose inputs or reasons were removed, by decision id and the hash of what remains."
    )
    previous_hash: Sha256 = Field(description="purge_hash of the purge before, 64 zeros for the first.")

    def canonical_bytes(self) -> bytes:
        """The bytes that are hashed and signed: JSON with sorted keys and no whitespace."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


class SignedPurge(Contract):
    """A purge, the sha256 of its canonical bytes and the Ed25519 signature of those bytes."""

    schema_version: Literal["trail.v1"] = "trail.v1"
    purge: AuditPurge
    purge_hash: Sha256
    key_id: str = Field(description="First 16 hex digits of the sha256 of the raw public key.")
    signature: str = Field(description="Base64 of the 64-byte Ed25519 signature.")


class VerifyProblem(Contract):
    """One broken link of the trail, named as precisely as the kind allows."""

    kind: ProblemKind
    message: str
    chain_id: str | None = None
    seq: int | None = None
    event_id: str | None = None
    decision_id: str | None = None
    digest_sequence: int | None = None


class VerifyReport(Contract):
    """What `leaim audit verify` checked and what it found; intact when `problems` is empty."""

    schema_version: Literal["trail.v1"] = "trail.v1"
    intact: bool
    chains: int
    events: int
    sealed_events: int = Field(description="Events at or below the head the last digest holds for their chain.")
    unsealed_events: int = Field(description="Events after the last digest: a deleted unsealed tail goes unseen.")
    digests: int
    decisions: int
    archive_checked: bool = Field(description="Whether the archived copies of the digests were compared.")
    accepted_events: int | None = Field(
        default=None,
        description="Events of the accepted store reconciled with the chains; None when it was not reconciled.",
    )
    pending_events: int | None = Field(
        default=None,
        description="Accepted events in no chain yet, accepted too recently to be a break (within the grace window).",
    )
    unchained_events: int | None = Field(
        default=None, description="Accepted events in no chain after the grace window, each a problem."
    )
    set_aside_bundles: int | None = Field(
        default=None, description="Accepted bundles the audit writer set aside, each a problem with its reason."
    )
    purges: int = Field(default=0, description="Purge receipts checked.")
    purged_events: int = Field(default=0, description="Events the purges removed, accounted for by their receipts.")
    problem_count: int
    problems: list[VerifyProblem] = Field(description="The first problems found, in the order found.")
