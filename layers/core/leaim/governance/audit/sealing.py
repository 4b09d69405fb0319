"""Sealing: the heads of every chain in one signed digest, linked to the digest before and archived write-once.

A digest is signed with Ed25519 and archived under S3 Object Lock, out of reach of whoever can edit the audit
store; `leaim audit verify` checks the chains against the digests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.trail.v1 import AuditDigest, SignedDigest
from leaim.governance.audit.chain import GENESIS, digest_hash
from leaim.governance.audit.exceptions import DigestConflictError, UnreadableDigestError
from leaim.governance.signing import Ed25519Signer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from leaim.domain.clock import Clock
    from leaim.governance.audit.events import ScheduleGate
    from leaim.governance.audit.ports import ArchivedCopy, DigestArchive, StoredDigest, TrailStore

SEAL_PRINCIPAL = "schedule:audit-digest"


class DigestSigner(Ed25519Signer):
    """Signs digests with one Ed25519 private key."""

    KEY_NAME = "audit signing key"

    def sign(self, digest: AuditDigest) -> SignedDigest:
        """The digest with its hash and the signature of its canonical bytes."""
        return SignedDigest(
            digest=digest,
            digest_hash=digest_hash(digest),
            key_id=self.key_id,
            signature=self._signature(digest.canonical_bytes()),
        )


@dataclass(frozen=True, slots=True)
class SealedDigest:
    """A digest sealed now, where it was archived, and earlier digests archived by this run after a failure."""

    signed: SignedDigest
    archived: ArchivedCopy
    archived_earlier: tuple[int, ...] = ()


class DigestSealer:
    """Seals the heads of every chain into the next signed digest and archives it write-once."""

    def __init__(
        self, *, store: TrailStore, archive: DigestArchive, signer: Callable[[], DigestSigner], clock: Clock
    ) -> None:
        self._store = store
        self._archive = archive
        self._signer = signer
        self._clock = clock

    def seal(self) -> SealedDigest:
        """Sign, store and archive the next digest; DigestConflictError when a concurrent run sealed it first.

        A digest is stored before it is archived, so that two runs racing for a sequence never archive two
        copies of it; one stored but not archived (the archive failed) is archived by the next run.
        """
        stored = self._store.digests()
        if stored and stored[-1].signed is None:
            raise UnreadableDigestError(
                f"digest {stored[-1].sequence} is unreadable ({stored[-1].unreadable}): run `leaim audit verify`"
            )
        archived_earlier = tuple(self._archive_pending(stored))
        previous = stored[-1].signed if stored else None
        heads = self._store.chain_heads()
        digest = AuditDigest(
            sequence=stored[-1].sequence + 1 if stored else 1,
            created_at=datetime.fromtimestamp(self._clock.now(), UTC),
            heads=heads,
            events=sum(head.seq for head in heads.values()),
            previous_hash=GENESIS if previous is None else previous.digest_hash,
        )
        signed = self._signer().sign(digest)
        self._store.add_digest(signed)
        copy = self._archive.put(signed)
        self._store.record_archive(digest.sequence, copy)
        return SealedDigest(signed=signed, archived=copy, archived_earlier=archived_earlier)

    def _archive_pending(self, stored: Sequence[StoredDigest]) -> Iterator[int]:
        for digest in stored:
            if digest.archived is None and digest.signed is not None:
                self._store.record_archive(digest.sequence, self._archive.put(digest.signed))
                yield digest.sequence


def run_digest(sealer: DigestSealer, gate: ScheduleGate, invocation_id: str) -> SealedDigest | None:
    """One scheduled sealing run, stored as one audit event; None when a concurrent run sealed first."""
    with gate.run(
        "audit.digest", "audit.digest.seal", invocation_id, principal=SEAL_PRINCIPAL, role="controller"
    ) as audit:
        with audit.failures_audited():
            try:
                sealed = sealer.seal()
            except DigestConflictError as error:
                audit.store("duplicate", error=str(error))
                return None
        digest = sealed.signed.digest
        audit.store(
            "success",
            details={
                "sequence": digest.sequence,
                "digest_hash": sealed.signed.digest_hash,
                "key_id": sealed.signed.key_id,
                "chains": len(digest.heads),
                "events": digest.events,
                "archive_key": sealed.archived.key,
                "archive_version_id": sealed.archived.version_id,
                "archived_earlier": list(sealed.archived_earlier),
            },
        )
        return sealed
