"""Retention: the scheduled purge of what a use case keeps no longer, sealed before it goes and accounted after.

Each use case's manifest says how long its audit events, decisions, inputs and reasons are kept (`Retention`, with
floors no setting goes below). A purge run removes what is older than that, except for a use case under a legal
hold. It removes only links a digest has sealed, and never a chain's last link (its head stays in the store). What
it removes is written into a signed receipt in the same transaction as the removal: per chain, the ranges of links
removed with the hashes on both sides and a hash over the links themselves; the ids of the events and decisions
removed; the hash of what remains of each decision whose inputs or reasons were removed. `leaim audit verify`
accepts a gap in a chain, an event recording a removed decision, and a decision without its inputs only where a
receipt that verifies accounts for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from contracts.trail.v1 import AuditPurge, PurgedRange, PurgeTally, SignedPurge
from leaim.governance.audit.chain import GENESIS, decision_sha256
from leaim.governance.audit.exceptions import PurgeConflictError
from leaim.governance.audit.sealing import DigestSigner

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from contracts.governance.v1 import LegalHold
    from contracts.manifest.v1 import Retention, UseCaseManifest
    from leaim.domain.clock import Clock
    from leaim.governance.audit.events import ScheduleGate
    from leaim.governance.audit.ports import TrailStore

PURGE_PRINCIPAL = "schedule:audit-purge"

# Annex IV technical documentation is kept ten years after the system is placed on the market (Art. 18).
DOCUMENTATION_FLOOR_DAYS = 3653

# Links removed per run at most: a purge is one transaction, and what is left waits for the next run.
MAX_PURGED_EVENTS = 50_000

Part = Literal["inputs", "reasons"]
PARTS: tuple[Part, ...] = ("inputs", "reasons")


def purge_hash(purge: AuditPurge) -> str:
    """The sha256 of a purge's canonical bytes."""
    return hashlib.sha256(purge.canonical_bytes()).hexdigest()


class PurgeSigner(DigestSigner):
    """Signs purge receipts with the audit signing key, the key digests are signed with."""

    def sign_purge(self, purge: AuditPurge) -> SignedPurge:
        """The purge with its hash and the signature of its canonical bytes."""
        return SignedPurge(
            purge=purge,
            purge_hash=purge_hash(purge),
            key_id=self.key_id,
            signature=self._signature(purge.canonical_bytes()),
        )


def tally(entries: Iterable[str]) -> PurgeTally:
    """The count of `entries` and the sha256 over them sorted, one per line."""
    ordered = sorted(entries)
    digest = hashlib.sha256()
    for entry in ordered:
        digest.update(entry.encode())
        digest.update(b"\n")
    return PurgeTally(count=len(ordered), sha256=digest.hexdigest())


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """The times before which each kind of a use case's records is removed."""

    events: datetime
    decisions: datetime
    inputs: datetime
    reasons: datetime

    @classmethod
    def of(cls, retention: Retention, now: datetime) -> Cutoffs:
        """The cutoffs of `retention` at `now`."""
        return cls(
            events=now - timedelta(days=retention.audit_events_days),
            decisions=now - timedelta(days=retention.decisions_days),
            inputs=now - timedelta(days=retention.inputs),
            reasons=now - timedelta(days=retention.explanations),
        )

    def document(self) -> dict[str, datetime]:
        """The cutoffs by kind, as a receipt records them."""
        return {
            "audit_events": self.events,
            "decisions": self.decisions,
            "inputs": self.inputs,
            "reasons": self.reasons,
        }


@dataclass(frozen=True, slots=True)
class ExpiredLink:
    """A link old enough to be removed."""

    chain_id: str
    seq: int
    prev_hash: str
    hash: str
    event_id: str


@dataclass(frozen=True, slots=True)
class AgedDecision:
    """A decision old enough to lose its inputs or reasons: its hashed columns, and the parts removed already."""

    decision_id: str
    created_at: datetime
    content: Mapping[str, Any]
    removed: frozenset[Part]


@dataclass(frozen=True, slots=True)
class Redaction:
    """A decision's columns after removing `parts`, and their hash."""

    decision_id: str
    parts: tuple[Part, ...]
    content: Mapping[str, Any]
    sha256: str


@dataclass
class PurgePlan:
    """What one run removes."""

    links: list[ExpiredLink] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    requests: dict[str, tuple[str, str]] = field(default_factory=dict)
    redactions: list[Redaction] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to remove."""
        return not (self.links or self.decisions or self.redactions)


class RetentionStore(Protocol):
    """The audit store as the purge sees it: legal holds, what is old enough, receipts, and the removal."""

    def held_use_cases(self) -> set[str]:
        """The use cases with a legal hold on."""
        ...

    def last_purge(self) -> SignedPurge | None:
        """The latest stored receipt."""
        ...

    def expired_links(self, use_case: str, before: datetime, limit: int) -> list[ExpiredLink]:
        """Up to `limit` links of the use case's events that occurred before `before`, by chain and seq."""
        ...

    def expired_decisions(self, use_case: str, before: datetime, limit: int) -> list[tuple[str, str]]:
        """Up to `limit` (decision_id, request_id) of the use case's decisions made before `before`."""
        ...

    def aged_decisions(self, use_case: str, before: datetime, limit: int) -> list[AgedDecision]:
        """Up to `limit` of the use case's decisions made before `before` with a part not yet removed."""
        ...

    def apply(self, signed: SignedPurge, plan: PurgePlan) -> None:
        """Store the receipt and remove what `plan` names, in one transaction; PurgeConflictError if its sequence is
        taken."""
        ...


class LegalHolds(Protocol):
    """Where legal holds are kept."""

    def place_hold(self, use_case: str, reason: str, *, by: str, at: datetime) -> LegalHold:
        """Place a hold on the use case's records."""
        ...

    def release_hold(self, use_case: str, hold_id: str, reason: str, *, by: str, at: datetime) -> LegalHold:
        """Release a hold; NotFoundError for no such hold of the use case, ConflictError when released already."""
        ...

    def holds(self, use_case: str) -> list[LegalHold]:
        """The use case's holds, newest first."""
        ...


class AcceptedRecords(Protocol):
    """The accepted store's copies of what a purge removes."""

    def forget(self, plan: PurgePlan, chained: Callable[[Sequence[str]], set[str]]) -> int:
        """Delete the accepted copies of the removed decisions (with their overrides, outcomes and request keys) and
        the event bundles whose events are all removed, and remove the parts of redacted decisions; a bundle with an
        event not yet chained (`chained`) is left. The count of items deleted or rewritten."""
        ...


def redacted(content: Mapping[str, Any], parts: Iterable[Part]) -> dict[str, Any]:
    """A decision's columns without `parts`: inputs and features emptied, or the answer's reasons."""
    document = dict(content)
    for part in parts:
        if part == "inputs":
            document["inputs"] = {}
            document["features"] = None
        else:
            response = dict(document["response"])
            response["reasons"] = []
            response["principal_reasons"] = None
            document["response"] = response
    return document


def purged_ranges(links: Sequence[ExpiredLink]) -> list[PurgedRange]:
    """The runs of consecutive seqs in `links` (by chain and seq), each with its boundary hashes."""
    ranges: list[PurgedRange] = []
    run: list[ExpiredLink] = []
    for link in [*links, None]:
        if run and (link is None or link.chain_id != run[-1].chain_id or link.seq != run[-1].seq + 1):
            hashes = hashlib.sha256("".join(item.hash for item in run).encode()).hexdigest()
            ranges.append(
                PurgedRange(
                    chain_id=run[0].chain_id,
                    first_seq=run[0].seq,
                    last_seq=run[-1].seq,
                    prev_hash=run[0].prev_hash,
                    last_hash=run[-1].hash,
                    links_sha256=hashes,
                )
            )
            run = []
        if link is not None:
            run.append(link)
    return ranges


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """A stored receipt (None when nothing was removed), the accepted items forgotten, and the use cases left alone:
    under a legal hold, or with no retention declared."""

    signed: SignedPurge | None
    forgotten: int
    held: tuple[str, ...]
    unset: tuple[str, ...]


class Purger:
    """Plans, signs and applies one purge of everything past its use case's retention."""

    def __init__(
        self,
        *,
        manifests: Callable[[], Iterable[UseCaseManifest]],
        store: RetentionStore,
        trail: TrailStore,
        accepted: AcceptedRecords | None,
        signer: Callable[[], PurgeSigner],
        clock: Clock,
        max_events: int = MAX_PURGED_EVENTS,
    ) -> None:
        self._manifests = manifests
        self._store = store
        self._trail = trail
        self._accepted = accepted
        self._signer = signer
        self._clock = clock
        self._max_events = max_events

    def purge(self) -> PurgeResult:
        """Remove what is past its retention; the receipt is None when nothing was."""
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        held = self._store.held_use_cases()
        due: dict[str, Cutoffs] = {}
        skipped_held, unset = [], []
        for manifest in self._manifests():
            if manifest.retention is None:
                unset.append(manifest.name)
            elif manifest.name in held:
                skipped_held.append(manifest.name)
            else:
                due[manifest.name] = Cutoffs.of(manifest.retention, now)
        digest = next((stored.signed for stored in reversed(self._trail.digests()) if stored.signed is not None), None)
        if digest is None or not due:
            return PurgeResult(None, 0, tuple(skipped_held), tuple(unset))
        plan = self._plan(due, {chain: head.seq for chain, head in digest.digest.heads.items()})
        if plan.empty:
            return PurgeResult(None, 0, tuple(skipped_held), tuple(unset))
        previous = self._store.last_purge()
        purge = AuditPurge(
            sequence=1 if previous is None else previous.purge.sequence + 1,
            created_at=now,
            sealed_by=digest.digest.sequence,
            cutoffs={use_case: cutoffs.document() for use_case, cutoffs in due.items()},
            ranges=purged_ranges(plan.links),
            events=tally(link.event_id for link in plan.links),
            decisions=tally(plan.decisions),
            redactions=tally(f"{item.decision_id}:{item.sha256}" for item in plan.redactions),
            previous_hash=GENESIS if previous is None else previous.purge_hash,
        )
        signed = self._signer().sign_purge(purge)
        forgotten = 0 if self._accepted is None else self._accepted.forget(plan, self._trail.chained)
        self._store.apply(signed, plan)
        return PurgeResult(signed, forgotten, tuple(skipped_held), tuple(unset))

    def _plan(self, due: Mapping[str, Cutoffs], sealed: Mapping[str, int]) -> PurgePlan:
        heads = {chain: head.seq for chain, head in self._trail.chain_heads().items()}
        plan = PurgePlan()
        room = self._max_events
        for use_case, cutoffs in sorted(due.items()):
            for link in self._store.expired_links(use_case, cutoffs.events, room):
                # Sealed by the digest, and not its chain's last link.
                if link.seq <= sealed.get(link.chain_id, 0) and link.seq < heads.get(link.chain_id, 0):
                    plan.links.append(link)
            room = self._max_events - len(plan.links)
            for decision_id, request_id in self._store.expired_decisions(use_case, cutoffs.decisions, self._max_events):
                plan.decisions.append(decision_id)
                plan.requests[decision_id] = (use_case, request_id)
            later = max(cutoffs.inputs, cutoffs.reasons)
            gone = set(plan.decisions)
            for aged in self._store.aged_decisions(use_case, later, self._max_events):
                if aged.decision_id not in gone:
                    redaction = _redaction(aged, cutoffs)
                    if redaction is not None:
                        plan.redactions.append(redaction)
        plan.links.sort(key=lambda link: (link.chain_id, link.seq))
        return plan


def _redaction(aged: AgedDecision, cutoffs: Cutoffs) -> Redaction | None:
    """What to remove of an aged decision now, with the parts removed before; None when nothing new."""
    due: list[Part] = []
    if "inputs" not in aged.removed and aged.created_at < cutoffs.inputs:
        due.append("inputs")
    if "reasons" not in aged.removed and aged.created_at < cutoffs.reasons:
        due.append("reasons")
    if not due:
        return None
    content = redacted(aged.content, [*aged.removed, *due])
    return Redaction(aged.decision_id, tuple(due), content, decision_sha256(content))


def run_purge(purger: Purger, gate: ScheduleGate, invocation_id: str) -> PurgeResult | None:
    """One scheduled purge run, stored as one audit event; None when a concurrent run purged first."""
    with gate.run("audit.purge", "audit.purge", invocation_id, principal=PURGE_PRINCIPAL, role="controller") as audit:
        with audit.failures_audited():
            try:
                result = purger.purge()
            except PurgeConflictError as error:
                audit.store("duplicate", error=str(error))
                return None
        audit.store("success", details=purge_details(result))
        return result


def purge_details(result: PurgeResult) -> dict[str, Any]:
    """What a run's audit event records of it."""
    details: dict[str, Any] = {"held": list(result.held), "no_retention": list(result.unset)}
    signed = result.signed
    if signed is None:
        return {**details, "sequence": None}
    purge = signed.purge
    return {
        **details,
        "sequence": purge.sequence,
        "purge_hash": signed.purge_hash,
        "sealed_by": purge.sealed_by,
        "events": purge.events.count,
        "decisions": purge.decisions.count,
        "redactions": purge.redactions.count,
        "ranges": len(purge.ranges),
        "accepted_forgotten": result.forgotten,
    }


def iter_parts(text: str) -> Iterator[Part]:
    """The parts a redaction row names."""
    named = text.split(",")
    yield from (part for part in PARTS if part in named)
