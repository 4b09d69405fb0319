"""The tamper-evident audit trail: hash chains of audit events, signed digests of their heads, verification.

Every `SqlAuditLog` (one per Lambda container or process) writes its own chain, so concurrent writers never
contend for one head. Link `seq` of a chain stores the hash of link `seq - 1` (`GENESIS` for the first) and
its own hash: sha256 over the canonical JSON of its chain position and every field of its event. A digest
seals the heads of all chains at one moment, links to the digest before by hash, is signed with Ed25519 and
archived write-once. Verification walks every chain, every digest and every decision's binding to its event,
and names the first broken link.

Pure code: the SQL store and the S3 archive reach it through the ports below.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import multiprocessing
import operator
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from pydantic_core import to_json

from contracts.audit.v1 import AuditEvent
from contracts.trail.v1 import AuditDigest, ChainHead, SignedDigest, VerifyProblem, VerifyReport
from leaim.exceptions import ConfigurationError, ConflictError, LeaimError
from leaim.governance.audit import InvocationAudit
from leaim.governance.signing import Ed25519Signer, key_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from contracts.trail.v1 import ProblemKind
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog, Telemetry

GENESIS = "0" * 64
EVENT_FIELDS: tuple[str, ...] = tuple(AuditEvent.model_fields)
# The columns of a stored decision that its `decision_sha256` covers.
DECISION_FIELDS: tuple[str, ...] = (
    "decision_id",
    "use_case",
    "request_id",
    "outcome",
    "fallback",
    "model_name",
    "model_version",
    "score",
    "review_required",
    "response",
    "inputs",
    "features",
    "created_at",
)
DECISION_SHA256 = "decision_sha256"
MAX_LISTED_PROBLEMS = 100
# Below this many links one process walks every chain: starting workers would cost more than it saves.
PARALLEL_FROM = 200_000
SEAL_PRINCIPAL = "schedule:audit-digest"
# Integers a JSON document may carry exactly through every store: PostgreSQL's JSONB keeps numbers as decimals,
# so a float such as 1e20 comes back as the integer 100000000000000000000. Numbers are therefore hashed as
# RFC 8785 does: as IEEE doubles, written as integers when they are whole and exact.
_EXACT_INTEGERS = 2**53
_LOCKED = "COMPLIANCE"


class InvalidCursorError(LeaimError):
    """An audit search cursor that this store did not hand out."""


class DigestConflictError(ConflictError):
    """Another run sealed a digest with the same sequence first; nothing was sealed by this one."""


class UnreadableDigestError(LeaimError):
    """The last stored digest does not parse: no digest is sealed after it until someone looks."""


class ArchiveConflictError(ConflictError):
    """The archive already holds a different copy of a digest; write-once copies are never replaced."""


# --- canonical form and hashes ---------------------------------------------------------------------------


def canonical_time(value: datetime | str) -> str:
    """A timestamp as UTC ISO-8601 with microseconds; a naive one is taken to be UTC already, as the store does.

    Text is taken to be in that form already.
    """
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def canonical_number(value: float) -> float:
    """A number as RFC 8785 has it: an IEEE double, written as an integer when whole and exact."""
    if type(value) is float:
        return int(value) if value.is_integer() and -_EXACT_INTEGERS < value < _EXACT_INTEGERS else value
    if -_EXACT_INTEGERS < value < _EXACT_INTEGERS:
        return value
    try:
        return float(value)
    except OverflowError:
        return value


def canonical_value(value: Any) -> Any:
    """`value` as every store gives it back: keys sorted, timestamps as text, numbers as `canonical_number`."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        return {key: canonical_value(value[key]) for key in sorted(value)}
    if kind is float or kind is int:
        return canonical_number(value)
    if kind is list:
        return [canonical_value(item) for item in value]
    if isinstance(value, datetime):
        return canonical_time(value)
    return value


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """Canonical JSON: keys sorted, no whitespace, UTF-8, numbers and timestamps as `canonical_value` has them."""
    return to_json(canonical_value(dict(document)))


# A link's canonical document is a JSON object with sorted keys: its event's fields and its chain position. The
# values are gathered in that order and zipped with the keys, which is much faster than sorting per link.
LINK_FIELDS = (*EVENT_FIELDS, "chain_id", "chain_seq", "prev_hash")
_LINK_KEYS = tuple(sorted(LINK_FIELDS))
_LINK_VALUES = operator.itemgetter(*_LINK_KEYS)
_TIME_SLOT = _LINK_KEYS.index("occurred_at")
_DURATION_SLOT = _LINK_KEYS.index("duration_ms")
_DETAILS_SLOT = _LINK_KEYS.index("details")
_OPTIONAL_NUMBER_SLOTS = (_LINK_KEYS.index("status_code"), _LINK_KEYS.index("batch_size"))


def link_hash(link: Mapping[str, Any]) -> str:
    """The hash of one link: its chain position (`chain_id`, `chain_seq`, `prev_hash`) and every field of its
    event, as stored (`LINK_FIELDS`; other keys are ignored).

    `occurred_at` may be given as text already canonical (`canonical_time`), as a store's adapter may read it.
    """
    values = list(_LINK_VALUES(link))
    values[_TIME_SLOT] = canonical_time(values[_TIME_SLOT])
    values[_DURATION_SLOT] = canonical_number(values[_DURATION_SLOT])
    for slot in _OPTIONAL_NUMBER_SLOTS:
        if values[slot] is not None:
            values[slot] = canonical_number(values[slot])
    if values[_DETAILS_SLOT]:
        values[_DETAILS_SLOT] = canonical_value(values[_DETAILS_SLOT])
    return hashlib.sha256(to_json(dict(zip(_LINK_KEYS, values)))).hexdigest()  # noqa: B905 - same length


def link_events(chain_id: str, head: ChainHead | None, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` (column values) linked after `head` (None for an empty chain), each with its chain columns."""
    seq, prev_hash = (0, GENESIS) if head is None else (head.seq, head.hash)
    linked = []
    for event in events:
        seq += 1
        row = {**event, "chain_id": chain_id, "chain_seq": seq, "prev_hash": prev_hash}
        row["event_hash"] = prev_hash = link_hash(row)
        linked.append(row)
    return linked


def decision_sha256(decision: Mapping[str, Any]) -> str:
    """The hash of a stored decision's content (`DECISION_FIELDS`), as its audit event records it."""
    return hashlib.sha256(canonical_bytes({name: decision.get(name) for name in DECISION_FIELDS})).hexdigest()


def digest_hash(digest: AuditDigest) -> str:
    """The sha256 of a digest's canonical bytes."""
    return hashlib.sha256(digest.canonical_bytes()).hexdigest()


def encode_cursor(occurred_at: datetime, event_id: str) -> str:
    """An opaque keyset cursor: the page goes on after this (occurred_at, event_id)."""
    text = to_json([canonical_time(occurred_at), event_id])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (occurred_at, event_id) a cursor carries; InvalidCursorError when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = json.loads(text)
        occurred_at = datetime.fromisoformat(moment)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursorError(f"cursor {cursor[:40]!r} is not one this audit search handed out") from error
    if not isinstance(event_id, str):
        raise InvalidCursorError(f"cursor {cursor[:40]!r} is not one this audit search handed out")
    return occurred_at, event_id


# --- ports --------------------------------------------------------------------------------------------------


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
class StoredDecision:
    """A stored decision's `DECISION_FIELDS` as the store holds them, and the events that recorded its hash."""

    decision_id: str
    content: Mapping[str, Any]
    bindings: tuple[DecisionBinding, ...]


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

    def decisions(self) -> Iterator[StoredDecision]:
        """Every stored decision with the events that recorded its hash; streamed."""
        ...

    def orphan_bindings(self) -> Iterator[DecisionBinding]:
        """Every event recording the hash of a decision that is not stored; streamed."""
        ...

    def digests(self) -> list[StoredDigest]:
        """Every stored digest in sequence order."""
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


# --- signing ------------------------------------------------------------------------------------------------


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


def signature_holds(signed: SignedDigest, public_key: bytes) -> bool:
    """Whether `signed.signature` is the Ed25519 signature of its digest's canonical bytes under `public_key`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        signature = base64.b64decode(signed.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed.digest.canonical_bytes())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# --- sealing ------------------------------------------------------------------------------------------------


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


def run_digest(
    sealer: DigestSealer,
    *,
    audit_log: AuditLog,
    telemetry: Telemetry,
    clock: Clock,
    invocation_id: str,
    source: str,
) -> SealedDigest | None:
    """One scheduled sealing run, stored as one audit event; None when a concurrent run sealed first."""
    with telemetry.span("audit.digest"):
        audit = InvocationAudit(
            audit_log,
            clock,
            source=source,
            action="audit.digest.seal",
            invocation_id=invocation_id,
            trace_id=telemetry.trace_id(),
        )
        audit.note(principal=SEAL_PRINCIPAL, role="controller")
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


# --- verification -------------------------------------------------------------------------------------------


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
) -> _ChainScan:
    """Walk the links of `chains` (all of them for None): run here, or in a worker process of its own."""
    scan = _ChainScan()
    findings = scan.findings
    chain: _Chain | None = None
    no_seals: Mapping[int, _Seal] = {}
    chain_seals = no_seals
    sealed_up_to = 0
    for link in store.links(chains):
        if chain is None or link.chain_id != chain.chain_id:
            if chain is not None:
                _end_chain(chain, chain_seals, findings)
            chain = _Chain(link.chain_id)
            scan.chains += 1
            scan.seen.add(link.chain_id)
            chain_seals = seals.get(link.chain_id, no_seals)
            head = last_heads.get(link.chain_id)
            sealed_up_to = 0 if head is None else head.seq
        scan.events += 1
        if link.seq <= sealed_up_to:
            scan.sealed += 1
        _check_link(chain, link, chain_seals, findings)
    if chain is not None:
        _end_chain(chain, chain_seals, findings)
    return scan


@dataclass(frozen=True, slots=True)
class _Seal:
    """A chain head a verified digest holds."""

    hash: str
    digest: int


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


class TrailVerifier:
    """Checks every digest, every chain link and every decision binding, naming each broken link."""

    def __init__(
        self, public_keys: Mapping[str, bytes], *, workers: int = 1, parallel_from: int = PARALLEL_FROM
    ) -> None:
        self._keys = dict(public_keys)
        self._workers = workers
        self._parallel_from = parallel_from

    def verify(self, store: TrailStore, archive: DigestArchive | None) -> VerifyReport:
        """Verify the whole trail; events after the last digest are checked for links but cannot be counted.

        A large store's chains are walked by `workers` processes at once, each reading its own range of chains
        (the store is pickled to them); the decisions are checked here meanwhile.
        """
        findings = _Findings()
        digests = store.digests()
        seals = self._check_digests(digests, findings)
        if archive is not None:
            _check_archive(digests, archive.copies(), findings)
        last_digest = next((d.signed for d in reversed(digests) if d.signed is not None), None)
        last_heads = {} if last_digest is None else dict(last_digest.digest.heads)
        ranges = store.chain_ranges(self._workers) if self._workers > 1 else []
        checked = _Findings()
        if sum(part.links for part in ranges) < self._parallel_from or len(ranges) < 2:
            scans = [_scan_chains(store, None, seals, last_heads)]
            decisions = _check_decisions(store.decisions(), store.orphan_bindings(), checked)
        else:
            context = multiprocessing.get_context(_start_method())
            with ProcessPoolExecutor(max_workers=len(ranges), mp_context=context) as pool:
                futures = [pool.submit(_scan_chains, store, part, seals, last_heads) for part in ranges]
                decisions = _check_decisions(store.decisions(), store.orphan_bindings(), checked)
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
            problem_count=findings.count,
            problems=findings.problems,
        )

    def _check_digests(self, digests: Sequence[StoredDigest], findings: _Findings) -> dict[str, dict[int, _Seal]]:
        """Check each digest and its link to the one before; the heads of those that hold, by chain and seq."""
        seals: dict[str, dict[int, _Seal]] = {}
        expected, previous_hash = 1, GENESIS
        for stored in digests:
            sequence = stored.sequence
            if sequence != expected:
                missing = f"{expected}" if sequence == expected + 1 else f"{expected} to {sequence - 1}"
                findings.add("digest", f"digest {missing} missing before digest {sequence}", digest_sequence=expected)
                previous_hash = ""
            expected = sequence + 1
            signed = stored.signed
            if signed is None:
                findings.add(
                    "digest", f"digest {sequence} is unreadable: {stored.unreadable}", digest_sequence=sequence
                )
                previous_hash = ""
                continue
            problem = self._digest_problem(signed)
            if problem is None and previous_hash and signed.digest.previous_hash != previous_hash:
                problem = f"does not link to digest {sequence - 1}: its previous hash is not that digest's hash"
            if problem is not None:
                findings.add("digest", f"digest {sequence} {problem}", digest_sequence=sequence)
                previous_hash = signed.digest_hash
                continue
            previous_hash = signed.digest_hash
            for chain_id, head in signed.digest.heads.items():
                seals.setdefault(chain_id, {})[head.seq] = _Seal(head.hash, sequence)
        return seals

    def _digest_problem(self, signed: SignedDigest) -> str | None:
        if digest_hash(signed.digest) != signed.digest_hash:
            return "was edited: its content does not match its hash"
        key = self._keys.get(signed.key_id)
        if key is None:
            return f"is signed by key {signed.key_id}, which is not a trusted audit signing key"
        if not signature_holds(signed, key):
            return f"is forged: its signature does not verify under key {signed.key_id}"
        return None


def _check_link(chain: _Chain, link: StoredLink, seals: Mapping[int, _Seal], findings: _Findings) -> None:
    """Check one link against the chain walked so far; at most one problem is listed per link."""
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
    elif not gap and link.prev_hash != chain.prev_hash and chain.last is not None:
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
    decisions: Iterable[StoredDecision], orphans: Iterable[DecisionBinding], findings: _Findings
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
    """One line: what was checked when the trail is intact, else the first broken link."""
    if not report.intact:
        first = report.problems[0]
        more = f" ({report.problem_count - 1} more problems)" if report.problem_count > 1 else ""
        return f"audit trail broken: {first.kind}: {first.message}{more}"
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
        f"(a deleted unsealed tail cannot be detected); {archive}"
    )


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
