"""Verification of the trail: every chain, every digest and every decision's binding to its event, and the
accepted store reconciled with the chains.

It walks the chains (in parallel processes past `PARALLEL_FROM` links), checks each digest's signature, its
link to the one before and its archived copy, and names the first broken link of each kind. Given the accepted
store, it also checks that every accepted event reached a chain: one that did not is a break, unless it was
accepted within the grace window (the writer's lag), when it is only pending; a bundle the audit writer set
aside is a break with its reason.
"""

from __future__ import annotations

import base64
import binascii
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts.trail.v1 import ChainHead, PurgeTally, SignedDigest, VerifyProblem, VerifyReport
from leaim.domain.clock import SystemClock
from leaim.exceptions import ConfigurationError
from leaim.governance.audit.chain import GENESIS, decision_sha256, digest_hash, link_hash
from leaim.governance.audit.ports import PurgeTallies
from leaim.governance.audit.retention import purge_hash, tally
from leaim.governance.signing import key_id, signature_holds

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from contracts.trail.v1 import ProblemKind
    from leaim.domain.clock import Clock
    from leaim.governance.audit.accepted import AcceptedBundle, AcceptedStore
    from leaim.governance.audit.ports import (
        ArchivedDigest,
        BoundDecision,
        ChainRange,
        DecisionBinding,
        DigestArchive,
        StoredDigest,
        StoredLink,
        StoredPurge,
        TrailStore,
    )

MAX_LISTED_PROBLEMS = 100


# Below this many links one process walks every chain: starting workers would cost more than it saves.
PARALLEL_FROM = 200_000


# An accepted event in no chain is pending, not a break, this long after its acceptance: the audit writer's lag
# is seconds, and its retries of a batch while the audit store is down span minutes.
PENDING_GRACE_S = 300.0


# Accepted events looked up in the chains at a time.
RECONCILE_BATCH = 5_000


_LOCKED = "COMPLIANCE"


def public_keys_from_b64(values: Iterable[str]) -> dict[str, bytes]:
    """Key id to raw public key, from base64 raw Ed25519 public keys; ConfigurationError for one that is not."""
    keys = {}
    for value in values:
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as error:
            raise ConfigurationError(f"{value[:20]!r} is not a base64 public key") from error
        if len(raw) != 32:
            raise ConfigurationError(f"an Ed25519 public key has 32 bytes, {value[:20]!r} has {len(raw)}")
        keys[key_id(raw)] = raw
    return keys


@dataclass
class _Findings:
    """Problems in the order found: the first ones listed, all of them counted."""

    problems: list[VerifyProblem] = field(default_factory=list)
    count: int = 0

    def add(self, kind: ProblemKind, message: str, **where: Any) -> int:
        self.count += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(VerifyProblem(kind=kind, message=message, **where))
        return self.count - 1

    def replace(self, index: int, kind: ProblemKind, message: str, **where: Any) -> None:
        if index < len(self.problems):
            self.problems[index] = VerifyProblem(kind=kind, message=message, **where)

    def merge(self, other: _Findings) -> None:
        room = MAX_LISTED_PROBLEMS - len(self.problems)
        self.problems.extend(other.problems[:room])
        self.count += other.count


@dataclass
class _ChainScan:
    """What walking a range of chains found: counts, problems, and the chains seen."""

    chains: int = 0
    events: int = 0
    sealed: int = 0
    findings: _Findings = field(default_factory=_Findings)
    seen: set[str] = field(default_factory=set)


def _start_method() -> str:
    """Fork when this process runs nothing else (a fork skips the imports); spawn beside other threads (a server,
    a progress display), whose locks a fork would copy in whatever state they are."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _scan_chains(
    store: TrailStore,
    chains: ChainRange | None,
    seals: Mapping[str, Mapping[int, _Seal]],
    last_heads: Mapping[str, ChainHead],
    gaps: Mapping[str, Mapping[int, _Gap]],
) -> _ChainScan:
    """Walk the links of `chains` (all of them for None): run here, or in a worker process of its own."""
    scan = _ChainScan()
    findings = scan.findings
    chain: _Chain | None = None
    no_seals: Mapping[int, _Seal] = {}
    no_gaps: Mapping[int, _Gap] = {}
    chain_seals = no_seals
    chain_gaps = no_gaps
    sealed_up_to = 0
    for link in store.links(chains):
        if chain is None or link.chain_id != chain.chain_id:
            if chain is not None:
                _end_chain(chain, chain_seals, findings)
            chain = _Chain(link.chain_id)
            scan.chains += 1
            scan.seen.add(link.chain_id)
            chain_seals = seals.get(link.chain_id, no_seals)
            chain_gaps = gaps.get(link.chain_id, no_gaps)
            head = last_heads.get(link.chain_id)
            sealed_up_to = 0 if head is None else head.seq
        scan.events += 1
        if link.seq <= sealed_up_to:
            scan.sealed += 1
        _check_link(chain, link, chain_seals, chain_gaps, findings)
    if chain is not None:
        _end_chain(chain, chain_seals, findings)
    return scan


@dataclass(frozen=True, slots=True)
class _Seal:
    """A chain head a verified digest holds."""

    hash: str
    digest: int


@dataclass(frozen=True, slots=True)
class _Gap:
    """Links a verified purge receipt removed from a chain, from the seq it is keyed by."""

    last_seq: int
    prev_hash: str
    last_hash: str


@dataclass
class _Chain:
    """Verification state of the chain being walked."""

    chain_id: str
    expected: int = 1
    prev_hash: str = GENESIS
    last: StoredLink | None = None
    # The first link whose content does not match its hash, and where its problem is listed.
    mismatch: tuple[StoredLink, int] | None = None
    reported: set[int] = field(default_factory=set)


def _describe(link: StoredLink) -> str:
    return f"chain {link.chain_id} seq {link.seq} (event {link.event_id})"


def _recomputed(link: Mapping[str, Any]) -> str:
    """The link's hash recomputed; empty when a value was edited into something no event holds (text for a number)."""
    try:
        return link_hash(link)
    except (TypeError, ValueError):
        return ""


def _belongs_at(moved: StoredLink, place: StoredLink) -> bool:
    """Whether `moved`'s event was written at `place`'s position: alone, or with its chain hashes."""
    position = {"chain_id": place.chain_id, "chain_seq": place.seq}
    return (
        _recomputed({**moved.event, **position, "prev_hash": place.prev_hash}) == place.hash
        or _recomputed({**moved.event, **position, "prev_hash": moved.prev_hash}) == moved.hash
    )


@dataclass
class _Reconciled:
    """What reconciling the accepted store found: its events, those pending, those in no chain, the bundles set
    aside."""

    events: int = 0
    pending: int = 0
    unchained: int = 0
    set_aside: int = 0


class TrailVerifier:
    """Checks every digest, every chain link and every decision binding, naming each broken link, and reconciles
    the accepted store with the chains."""

    def __init__(
        self,
        public_keys: Mapping[str, bytes],
        *,
        workers: int = 1,
        parallel_from: int = PARALLEL_FROM,
        grace_s: float = PENDING_GRACE_S,
        clock: Clock | None = None,
    ) -> None:
        self._keys = dict(public_keys)
        self._workers = workers
        self._parallel_from = parallel_from
        self._grace_s = grace_s
        self._clock = clock or SystemClock()

    def verify(
        self, store: TrailStore, archive: DigestArchive | None, accepted: AcceptedStore | None = None
    ) -> VerifyReport:
        """Verify the whole trail; events after the last digest are checked for links but cannot be counted.

        A large store's chains are walked by `workers` processes at once, each reading its own range of chains
        (the store is pickled to them); the decisions are checked, and the `accepted` store reconciled, here
        meanwhile.
        """
        findings = _Findings()
        digests = store.digests()
        seals = self._check_digests(digests, findings)
        if archive is not None:
            _check_archive(digests, archive.copies(), findings)
        purges = store.purges()
        gaps, purged_events = self._check_purges(purges, store.purge_tallies(), seals, findings)
        last_digest = next((d.signed for d in reversed(digests) if d.signed is not None), None)
        last_heads = {} if last_digest is None else dict(last_digest.digest.heads)
        ranges = store.chain_ranges(self._workers) if self._workers > 1 else []
        checked = _Findings()
        # Acceptances older than this that reached no chain are breaks; it is fixed before the chains are read.
        cutoff = self._clock.now() - self._grace_s
        reconciled = None
        if sum(part.links for part in ranges) < self._parallel_from or len(ranges) < 2:
            scans = [_scan_chains(store, None, seals, last_heads, gaps)]
            decisions = _check_decisions(store.decisions(), store.orphan_bindings(), checked)
            if accepted is not None:
                reconciled = _reconcile(store, accepted.bundles(), cutoff, checked)
        else:
            context = multiprocessing.get_context(_start_method())
            with ProcessPoolExecutor(max_workers=len(ranges), mp_context=context) as pool:
                futures = [pool.submit(_scan_chains, store, part, seals, last_heads, gaps) for part in ranges]
                decisions = _check_decisions(store.decisions(), store.orphan_bindings(), checked)
                if accepted is not None:
                    reconciled = _reconcile(store, accepted.bundles(), cutoff, checked)
                scans = [future.result() for future in futures]
        for scan in scans:
            findings.merge(scan.findings)
        seen = set().union(*(scan.seen for scan in scans))
        for chain_id in sorted(set(seals) - seen):
            top = max(seals[chain_id])
            findings.add(
                "deleted",
                f"chain {chain_id} was deleted: digest {seals[chain_id][top].digest} sealed it up to seq {top}",
                chain_id=chain_id,
                seq=top,
                digest_sequence=seals[chain_id][top].digest,
            )
        findings.merge(checked)
        events = sum(scan.events for scan in scans)
        sealed = sum(scan.sealed for scan in scans)
        return VerifyReport(
            intact=findings.count == 0,
            chains=sum(scan.chains for scan in scans),
            events=events,
            sealed_events=sealed,
            unsealed_events=events - sealed,
            digests=len(digests),
            decisions=decisions,
            archive_checked=archive is not None,
            accepted_events=None if reconciled is None else reconciled.events,
            pending_events=None if reconciled is None else reconciled.pending,
            unchained_events=None if reconciled is None else reconciled.unchained,
            set_aside_bundles=None if reconciled is None else reconciled.set_aside,
            purges=len(purges),
            purged_events=purged_events,
            problem_count=findings.count,
            problems=findings.problems,
        )

    def _check_digests(self, digests: Sequence[StoredDigest], findings: _Findings) -> dict[str, dict[int, _Seal]]:
        """Check each digest and its link to the one before; the heads of those that hold, by chain and seq."""
        seals: dict[str, dict[int, _Seal]] = {}
        records = [
            _Record(stored.sequence, stored.unreadable or "it does not parse")
            if stored.signed is None
            else _Record(
                stored.sequence,
                None,
                stored.signed.digest_hash,
                digest_hash(stored.signed.digest),
                stored.signed.digest.previous_hash,
                stored.signed.digest.canonical_bytes(),
                stored.signed.key_id,
                stored.signed.signature,
            )
            for stored in digests
        ]
        held = set(self._linked(records, "digest", "digest", findings))
        for stored in digests:
            if stored.sequence in held and stored.signed is not None:
                for chain_id, head in stored.signed.digest.heads.items():
                    seals.setdefault(chain_id, {})[head.seq] = _Seal(head.hash, stored.sequence)
        return seals

    def _check_purges(
        self,
        purges: Sequence[StoredPurge],
        tallies: Mapping[int, PurgeTallies],
        seals: Mapping[str, Mapping[int, _Seal]],
        findings: _Findings,
    ) -> tuple[dict[str, dict[int, _Gap]], int]:
        """Check each receipt, its link to the one before and what the store holds of its removals; the ranges of
        those that hold, by chain and first seq, and how many events they removed."""
        gaps: dict[str, dict[int, _Gap]] = {}
        removed = 0
        empty = tally(())
        records = [
            _Record(stored.sequence, stored.unreadable or "it does not parse")
            if stored.signed is None
            else _Record(
                stored.sequence,
                None,
                stored.signed.purge_hash,
                purge_hash(stored.signed.purge),
                stored.signed.purge.previous_hash,
                stored.signed.purge.canonical_bytes(),
                stored.signed.key_id,
                stored.signed.signature,
            )
            for stored in purges
        ]
        held = set(self._linked(records, "purge", "purge receipt", findings))
        for stored in purges:
            if stored.sequence not in held or stored.signed is None:
                continue
            purge, sequence = stored.signed.purge, stored.sequence
            where = {"digest_sequence": purge.sealed_by}
            counted = tallies.get(sequence, PurgeTallies(empty, empty, empty))
            for kind, receipt, store_has in (
                ("events", purge.events, counted.events),
                ("decisions", purge.decisions, counted.decisions),
                ("redactions", purge.redactions, counted.redactions),
            ):
                if receipt != store_has:
                    findings.add(
                        "purge",
                        f"purge {sequence} removed {_counted(receipt.count, kind[:-1])} but the store records "
                        f"{store_has.count} as removed by it{_differ(receipt, store_has)}",
                        **where,
                    )
            removed += purge.events.count
            for item in purge.ranges:
                sealed_up_to = max(seals.get(item.chain_id, {0: _Seal("", 0)}))
                if item.last_seq > sealed_up_to:
                    findings.add(
                        "purge",
                        f"purge {sequence} removed chain {item.chain_id} seqs {item.first_seq}-{item.last_seq}, "
                        f"past seq {sealed_up_to}, the last a digest sealed",
                        chain_id=item.chain_id,
                        seq=item.last_seq,
                        **where,
                    )
                    continue
                gaps.setdefault(item.chain_id, {})[item.first_seq] = _Gap(item.last_seq, item.prev_hash, item.last_hash)
        return gaps, removed

    def _linked(self, records: Sequence[_Record], kind: ProblemKind, noun: str, findings: _Findings) -> Iterator[int]:
        """The sequences of `records` (digests or purge receipts, in sequence order) that hold: readable, their hash
        and signature true under a trusted key, linked by hash to the one before; each other one is a finding."""
        expected, previous_hash = 1, GENESIS
        for record in records:
            sequence = record.sequence
            where = {"digest_sequence": expected} if kind == "digest" else {}
            if sequence != expected:
                missing = f"{expected}" if sequence == expected + 1 else f"{expected} to {sequence - 1}"
                findings.add(kind, f"{noun} {missing} missing before {noun} {sequence}", **where)
                previous_hash = ""
            expected = sequence + 1
            where = {"digest_sequence": sequence} if kind == "digest" else {}
            if record.unreadable is not None:
                findings.add(kind, f"{noun} {sequence} is unreadable: {record.unreadable}", **where)
                previous_hash = ""
                continue
            problem = self._signature_problem(record)
            if problem is None and previous_hash and record.previous_hash != previous_hash:
                problem = f"does not link to {noun} {sequence - 1}: its previous hash is not that {noun}'s hash"
            previous_hash = record.hash
            if problem is not None:
                findings.add(kind, f"{noun} {sequence} {problem}", **where)
                continue
            yield sequence

    def _signature_problem(self, record: _Record) -> str | None:
        if record.recomputed != record.hash:
            return "was edited: its content does not match its hash"
        key = self._keys.get(record.key_id)
        if key is None:
            return f"is signed by key {record.key_id}, which is not a trusted audit signing key"
        if not signature_holds(record.data, record.signature, key):
            return f"is forged: its signature does not verify under key {record.key_id}"
        return None


@dataclass(frozen=True, slots=True)
class _Record:
    """A signed record linked by hash to the one before (a digest, a purge receipt), as verification reads it;
    `unreadable` says why one that does not parse does not."""

    sequence: int
    unreadable: str | None
    hash: str = ""
    recomputed: str = ""
    previous_hash: str = ""
    data: bytes = b""
    key_id: str = ""
    signature: str = ""


def _check_link(
    chain: _Chain, link: StoredLink, seals: Mapping[int, _Seal], gaps: Mapping[int, _Gap], findings: _Findings
) -> None:
    """Check one link against the chain walked so far; at most one problem is listed per link.

    Seqs missing before it are no gap when purge receipts remove exactly them, hash to hash.
    """
    if link.seq != chain.expected and gaps and _bridge(chain, gaps, link.seq) and link.prev_hash != chain.prev_hash:
        chain.reported.add(link.seq)
        findings.add(
            "modified",
            f"{_describe(link)} was modified: it does not link to the last link a purge removed before it",
            chain_id=link.chain_id,
            seq=link.seq,
            event_id=link.event_id,
        )
    gap = link.seq != chain.expected
    if gap:
        missing = f"seq {chain.expected}" if link.seq == chain.expected + 1 else f"seqs {chain.expected}-{link.seq - 1}"
        findings.add(
            "missing",
            f"chain {link.chain_id}: {missing} deleted before seq {link.seq} (event {link.event_id})",
            chain_id=link.chain_id,
            seq=chain.expected,
            event_id=link.event_id,
        )
        chain.reported.add(link.seq)
    if _recomputed(link.event) != link.hash:
        _content_mismatch(chain, link, findings)
    elif not gap and link.prev_hash != chain.prev_hash and chain.last is not None and link.seq not in chain.reported:
        previous = chain.last
        if previous.seq not in chain.reported:
            chain.reported.add(previous.seq)
            findings.add(
                "modified",
                f"{_describe(previous)} was modified: its hash is not the one seq {link.seq} links to",
                chain_id=previous.chain_id,
                seq=previous.seq,
                event_id=previous.event_id,
            )
    seal = seals.get(link.seq)
    if seal is not None and seal.hash != link.hash and link.seq not in chain.reported:
        chain.reported.add(link.seq)
        findings.add(
            "modified",
            f"{_describe(link)} was rewritten: digest {seal.digest} sealed another hash for it",
            chain_id=link.chain_id,
            seq=link.seq,
            event_id=link.event_id,
            digest_sequence=seal.digest,
        )
    chain.expected = link.seq + 1
    chain.prev_hash = link.hash
    chain.last = link


def _bridge(chain: _Chain, gaps: Mapping[int, _Gap], before: int) -> bool:
    """Step the chain over the purged ranges that follow on from the link before (or the chain's start), hash to
    hash, up to seq `before`; whether they reach it. What is still missing after them is a gap."""
    while chain.expected < before:
        removed = gaps.get(chain.expected)
        if removed is None or removed.prev_hash != chain.prev_hash or removed.last_seq >= before:
            return False
        chain.expected, chain.prev_hash = removed.last_seq + 1, removed.last_hash
    return True


def _content_mismatch(chain: _Chain, link: StoredLink, findings: _Findings) -> None:
    """A link whose event does not match its hash: modified, or swapped with an earlier mismatching one."""
    first = chain.mismatch
    if first is not None and _belongs_at(first[0], link) and _belongs_at(link, first[0]):
        earlier = first[0]
        findings.replace(
            first[1],
            "reordered",
            f"{_describe(earlier)} and seq {link.seq} (event {link.event_id}) were swapped",
            chain_id=earlier.chain_id,
            seq=earlier.seq,
            event_id=earlier.event_id,
        )
        chain.mismatch = None
        chain.reported.add(link.seq)
        return
    if link.seq in chain.reported:
        return
    chain.reported.add(link.seq)
    index = findings.add(
        "modified",
        f"{_describe(link)} was modified: its content does not match its hash",
        chain_id=link.chain_id,
        seq=link.seq,
        event_id=link.event_id,
    )
    if first is None:
        chain.mismatch = (link, index)


def _end_chain(chain: _Chain, seals: Mapping[int, _Seal], findings: _Findings) -> None:
    """A chain ends: it must reach the last head a digest sealed for it."""
    last = chain.last
    if last is None or not seals:
        return
    head = max(seals)
    if last.seq >= head:
        return
    findings.add(
        "truncated",
        f"chain {chain.chain_id} ends at seq {last.seq} (event {last.event_id}) but digest {seals[head].digest} "
        f"sealed it up to seq {head}: seqs {last.seq + 1}-{head} were deleted",
        chain_id=chain.chain_id,
        seq=last.seq + 1,
        digest_sequence=seals[head].digest,
    )


def _check_decisions(
    decisions: Iterable[BoundDecision], orphans: Iterable[DecisionBinding], findings: _Findings
) -> int:
    """Each stored decision matches the hash its event recorded, and each recorded decision is stored."""
    count = 0
    for decision in decisions:
        count += 1
        if not decision.bindings:
            findings.add(
                "decision_modified",
                f"decision {decision.decision_id} has no audit event recording its hash: it was added, or its "
                "event was edited",
                decision_id=decision.decision_id,
            )
            continue
        actual = decision_sha256(decision.content)
        if decision.redacted_sha256 is not None:
            if decision.redacted_sha256 != actual:
                findings.add(
                    "decision_modified",
                    f"decision {decision.decision_id} was modified: its content does not match the hash its "
                    "purge recorded when its inputs or reasons were removed",
                    decision_id=decision.decision_id,
                )
            continue
        for binding in decision.bindings:
            if binding.sha256 != actual:
                findings.add(
                    "decision_modified",
                    f"decision {decision.decision_id} was modified: its content does not match the hash event "
                    f"{binding.event_id} recorded",
                    decision_id=decision.decision_id,
                    event_id=binding.event_id,
                )
    for binding in orphans:
        findings.add(
            "decision_modified",
            f"decision {binding.decision_id} recorded by event {binding.event_id} was deleted",
            decision_id=binding.decision_id,
            event_id=binding.event_id,
        )
    return count


def _reconcile(store: TrailStore, bundles: Iterable[AcceptedBundle], cutoff: float, findings: _Findings) -> _Reconciled:
    """Every accepted event is in a chain (or was accepted after `cutoff`), and no bundle was set aside."""
    reconciled = _Reconciled()
    waiting: list[tuple[str, AcceptedBundle]] = []
    for bundle in bundles:
        if bundle.set_aside is not None:
            reconciled.set_aside += 1
            findings.add(
                "set_aside",
                f"accepted bundle {bundle.pk} ({bundle.kind}) was set aside by the audit writer: {bundle.set_aside}",
                event_id=bundle.event_ids[0] if bundle.events else None,
                decision_id=_decision_of(bundle),
            )
            continue
        reconciled.events += len(bundle.events)
        waiting.extend((event_id, bundle) for event_id in bundle.event_ids)
        if len(waiting) >= RECONCILE_BATCH:
            _look_up(store, waiting, cutoff, reconciled, findings)
            waiting = []
    if waiting:
        _look_up(store, waiting, cutoff, reconciled, findings)
    return reconciled


def _look_up(
    store: TrailStore,
    waiting: Sequence[tuple[str, AcceptedBundle]],
    cutoff: float,
    reconciled: _Reconciled,
    findings: _Findings,
) -> None:
    chained = store.chained([event_id for event_id, _ in waiting])
    for event_id, bundle in waiting:
        if event_id in chained:
            continue
        if bundle.accepted_at > cutoff:
            reconciled.pending += 1
            continue
        reconciled.unchained += 1
        findings.add(
            "unchained",
            f"accepted event {event_id} ({bundle.kind}, {bundle.pk}) is in no chain",
            event_id=event_id,
            decision_id=_decision_of(bundle),
        )


def _decision_of(bundle: AcceptedBundle) -> str | None:
    """The decision a bundle records, or its row records an override or outcome of."""
    if bundle.row is None:
        return None
    decision_id = bundle.row.get("decision_id")
    return decision_id if isinstance(decision_id, str) else None


def _check_archive(digests: Sequence[StoredDigest], copies: Iterable[ArchivedDigest], findings: _Findings) -> None:
    """Each stored digest has exactly one archived copy, locked, equal to it, and each copy has its digest."""
    stored = {digest.sequence: digest for digest in digests}
    seen = set()
    for copy in copies:
        seen.add(copy.sequence)
        digest = stored.get(copy.sequence)
        where = {"digest_sequence": copy.sequence}
        if digest is None:
            findings.add(
                "digest", f"digest {copy.sequence} is archived at {copy.key} but deleted from the store", **where
            )
        elif len(copy.version_ids) != 1:
            findings.add(
                "digest",
                f"the archived copy of digest {copy.sequence} was overwritten: {copy.key} has "
                f"{len(copy.version_ids)} versions",
                **where,
            )
        elif copy.lock_mode != _LOCKED:
            findings.add(
                "digest", f"the archived copy of digest {copy.sequence} is not under a {_LOCKED} object lock", **where
            )
        elif digest.signed is None or _archived(copy) != digest.signed:
            findings.add("digest", f"digest {copy.sequence} differs from its archived copy at {copy.key}", **where)
        elif digest.archived is None or digest.archived.version_id != copy.version_ids[0]:
            findings.add(
                "digest",
                f"digest {copy.sequence} does not record the archived version of {copy.key}",
                **where,
            )
    for sequence in sorted(set(stored) - seen):
        findings.add("digest", f"digest {sequence} has no archived copy", digest_sequence=sequence)


def _archived(copy: ArchivedDigest) -> SignedDigest | None:
    try:
        return SignedDigest.model_validate_json(copy.body)
    except ValueError:
        return None


def summary(report: VerifyReport) -> str:
    """One line: what was checked when the trail is intact, else the first broken link; and the reconciliation."""
    reconciled = "" if report.accepted_events is None else f"; {_reconciliation(report)}"
    if not report.intact:
        first = report.problems[0]
        more = f" ({report.problem_count - 1} more problems)" if report.problem_count > 1 else ""
        return f"audit trail broken: {first.kind}: {first.message}{more}{reconciled}"
    archive = "archived copies checked" if report.archive_checked else "archived copies not checked"
    counts = ", ".join(
        _counted(number, noun)
        for number, noun in (
            (report.chains, "chain"),
            (report.events, "event"),
            (report.digests, "digest"),
            (report.decisions, "decision"),
        )
    )
    return (
        f"audit trail intact: {counts}; {report.sealed_events} events sealed, {report.unsealed_events} unsealed "
        f"(a deleted unsealed tail cannot be detected); {archive}{reconciled}"
    )


def _reconciliation(report: VerifyReport) -> str:
    """The accepted store against the chains, in numbers."""
    return (
        f"accepted store: {_counted(report.accepted_events or 0, 'event')}, {report.pending_events or 0} pending "
        f"(accepted within the grace window), {report.unchained_events or 0} in no chain, "
        f"{_counted(report.set_aside_bundles or 0, 'bundle')} set aside"
    )


def _differ(receipt: PurgeTally, held: PurgeTally) -> str:
    return "" if receipt.count != held.count else " (the same count, other entries)"


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
