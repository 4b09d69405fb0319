"""The ingestion service: records in, stored once or quarantined with a reason, online features kept fresh.

Every effect is idempotent, so at-least-once delivery gives exactly-once results:

- a record's stored copy is claimed in the ledger under its record id, with the digest of its content and
  the offline-store object holding it; a second delivery finds the claim and is counted as a duplicate,
  and a record id sent again with other content is quarantined as a conflict;
- the offline-store object of a batch is named after the batch's record ids, so a retried batch rewrites
  the same object; only rows whose ledger entry names their object count as stored (snapshots check);
- a quarantined record is keyed by the digest of its dataset, version and payload, so it is kept once;
- online features are written only when their event time is later than the stored one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contracts.error.v1 import FieldError
from contracts.ingest.v1 import IngestReport, QuarantinedRecord, QuarantineEntry
from leaim.data.parquet import encode
from leaim.data.ports import LedgerEntry, OnlineUpdate
from leaim.data.records import (
    RecordPreparer,
    RecordProblem,
    column_data,
    feature_version,
    partition_day,
    stored_columns,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from contracts.dataset.v1 import DatasetContract
    from contracts.ingest.v1 import Source
    from contracts.manifest.v1 import UseCaseManifest
    from leaim.data.datasets import DatasetCatalog
    from leaim.data.ports import ObjectStore, OnlineFeatureWriter, RecordLedger
    from leaim.data.records import PreparedRecord
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog

OFFLINE_PREFIX = "offline"
QUARANTINE_PREFIX = "quarantine"
# Messages that name no dataset this deployment knows, or cannot be read at all, are kept here.
UNROUTED = "_unrouted"
JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"
# Reports list at most this many quarantined records; the quarantine itself keeps all of them.
REPORTED_QUARANTINE = 1000
# Quarantine ids named in one audit event; the event keeps the counts of all of them.
AUDITED_IDS = 100


@dataclass(frozen=True, slots=True)
class Incoming:
    """One record as delivered: its payload, the contract version it claims, and where it came from."""

    payload: object
    contract_version: str | None
    origin: str
    quarantine_id: str | None = None


@dataclass
class IngestResult:
    """The report of one ingestion, the records it quarantined, and the positions of the stored ones."""

    report: IngestReport
    quarantined: dict[int, QuarantinedRecord] = field(default_factory=dict)
    stored_positions: set[int] = field(default_factory=set)


def offline_key(dataset: str, day: str, batch: str) -> str:
    """Object key of one batch's rows of one event day, Hive-partitioned by date."""
    return f"{OFFLINE_PREFIX}/{dataset}/date={day}/{batch}.parquet"


def offline_prefix(dataset: str) -> str:
    """Prefix of a dataset's offline store."""
    return f"{OFFLINE_PREFIX}/{dataset}/"


def quarantine_key(dataset: str, quarantine_id: str) -> str:
    """Object key of one quarantined record."""
    return f"{QUARANTINE_PREFIX}/{dataset}/{quarantine_id}.json"


def quarantine_prefix(dataset: str) -> str:
    """Prefix of a dataset's quarantine."""
    return f"{QUARANTINE_PREFIX}/{dataset}/"


def quarantine_id_of(dataset: str, contract_version: str | None, payload: object) -> str:
    """The same bad record, delivered again, gets the same id and is kept once."""
    canonical = json.dumps([dataset, contract_version, payload], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _problem(reason: str, kind: str, field_name: str = "record") -> RecordProblem:
    return RecordProblem(reason, [FieldError(field=field_name, message=reason, type=kind)])


class IngestionService:
    """Validates, minimizes, featurizes and stores records of the datasets in the catalog."""

    def __init__(
        self,
        *,
        datasets: DatasetCatalog,
        manifests: ManifestCatalog,
        objects: ObjectStore,
        ledger: RecordLedger,
        online: OnlineFeatureWriter,
        clock: Clock,
        pii_key: bytes,
    ) -> None:
        self.datasets = datasets
        self._manifests = manifests
        self._objects = objects
        self._ledger = ledger
        self._online = online
        self._clock = clock
        self._pii_key = pii_key
        self._preparers: dict[tuple[str, str], RecordPreparer] = {}

    def ingest(self, dataset: str, items: Sequence[Incoming], *, source: Source, trace_id: str) -> IngestResult:
        """Store the valid records of `items` once each and quarantine the others, each with its reason.

        Raises NotFoundError for an unknown dataset; any storage error propagates, and the whole call can
        be retried: nothing is stored twice.
        """
        latest = self.datasets.latest(dataset)
        manifest = self._manifests.get(latest.use_case)
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        triage = self._triage(dataset, items)
        candidates = triage.candidates
        # Named after the records it holds, content included: a retry of the same records rewrites the same
        # object with the same rows, and no other batch ever writes to it.
        held = json.dumps(sorted((r.record_id, r.digest) for r in candidates.values()))
        batch = hashlib.sha256(held.encode()).hexdigest()[:32]
        location = {p: offline_key(dataset, partition_day(r.event_time), batch) for p, r in candidates.items()}
        written = self._write_partitions(latest, manifest, candidates, location, source, now)
        self._claim(dataset, triage, location)
        # Duplicates too: a retry after the ledger claim must still reach the online store (the write is
        # conditional on the event time, so applying it again changes nothing).
        stored = [*candidates.values(), *(triage.prepared[p] for p in triage.duplicates)]
        stale = self._online.put_latest(manifest.name, _latest_per_entity(stored, feature_version(manifest)))
        quarantined = self._quarantine(dataset, items, triage.problems, source, trace_id, now)
        stored_positions = set(candidates) | triage.duplicates
        report = IngestReport(
            dataset=dataset,
            source=source,
            received=len(items),
            stored=len(stored_positions),
            duplicates=len(triage.duplicates),
            quarantined=len(quarantined),
            stale_online_updates=stale,
            contract_versions=dict(Counter(triage.prepared[p].contract_version for p in stored_positions)),
            partitions=written,
            quarantine=[_entry(record) for record in list(quarantined.values())[:REPORTED_QUARANTINE]],
            trace_id=trace_id,
        )
        return IngestResult(report, quarantined, stored_positions)

    def _triage(self, dataset: str, items: Sequence[Incoming]) -> _Triage:
        """Prepare every record, then sort them: to store, duplicates (of the batch or the store), problems."""
        triage = _Triage()
        for position, item in enumerate(items):
            outcome = self._prepare(dataset, item)
            if isinstance(outcome, RecordProblem):
                triage.problems[position] = outcome
            else:
                triage.prepared[position] = outcome
        first: dict[str, int] = {}
        for position, record in triage.prepared.items():
            seen = first.setdefault(record.record_id, position)
            if seen == position:
                continue
            if triage.prepared[seen].digest == record.digest:
                triage.copies[position] = seen
            else:
                triage.problems[position] = _conflict(record, "an earlier record of the same batch")
        unique = [
            record.record_id for position, record in triage.prepared.items() if first[record.record_id] == position
        ]
        existing = self._ledger.lookup(dataset, unique)
        for position, record in triage.prepared.items():
            if first[record.record_id] != position:
                continue
            entry = existing.get(record.record_id)
            if entry is None:
                triage.candidates[position] = record
            else:
                triage.settle(position, record, entry)
        return triage

    def _claim(self, dataset: str, triage: _Triage, location: Mapping[int, str]) -> None:
        self._claim_candidates(dataset, triage, location)
        # A second copy of a record in the batch ends as its first copy did: stored (a duplicate) or quarantined.
        for position, original in triage.copies.items():
            if original in triage.problems:
                triage.problems[position] = triage.problems[original]
            else:
                triage.duplicates.add(position)

    def _claim_candidates(self, dataset: str, triage: _Triage, location: Mapping[int, str]) -> None:
        claims = {
            record.record_id: LedgerEntry(record.digest, location[position])
            for position, record in triage.candidates.items()
        }
        lost = self._ledger.claim(dataset, claims)
        if not lost:
            return
        # A concurrent delivery claimed these: the same content is a duplicate, other content a conflict.
        winners = self._ledger.lookup(dataset, sorted(lost))
        for position, record in list(triage.candidates.items()):
            if record.record_id in lost:
                del triage.candidates[position]
                triage.settle(position, record, winners[record.record_id])

    def _prepare(self, dataset: str, item: Incoming) -> PreparedRecord | RecordProblem:
        version = item.contract_version
        contract = self.datasets.get(dataset, version) if version else None
        if contract is None:
            known = ", ".join(self.datasets.versions(dataset))
            return _problem(
                f"unknown contract version {version!r} of dataset {dataset!r} (known: {known})",
                "unknown_contract_version",
                "contract_version",
            )
        key = (dataset, contract.version)
        preparer = self._preparers.get(key)
        if preparer is None:
            manifest = self._manifests.get(contract.use_case)
            preparer = self._preparers[key] = RecordPreparer(contract, manifest, self._pii_key, self._clock)
        return preparer.prepare(item.payload)

    def _write_partitions(
        self,
        latest: DatasetContract,
        manifest: UseCaseManifest,
        records: Mapping[int, PreparedRecord],
        location: Mapping[int, str],
        source: str,
        now: datetime,
    ) -> list[str]:
        columns = stored_columns(latest, manifest)
        by_key: dict[str, list[PreparedRecord]] = {}
        for position, record in records.items():
            by_key.setdefault(location[position], []).append(record)
        blobs = {
            key: encode(
                columns,
                column_data(columns, rows, manifest=manifest, source=source, ingested_at=now),
                metadata={"leaim.dataset": latest.dataset, "leaim.feature_version": feature_version(manifest)},
            )
            for key, rows in by_key.items()
        }
        if blobs:
            self._objects.put_many(blobs, content_type=PARQUET)
        return sorted(blobs)

    def _quarantine(
        self,
        dataset: str,
        items: Sequence[Incoming],
        problems: Mapping[int, RecordProblem],
        source: Source,
        trace_id: str,
        now: datetime,
    ) -> dict[int, QuarantinedRecord]:
        records = {}
        for position in sorted(problems):
            item, problem = items[position], problems[position]
            records[position] = QuarantinedRecord(
                quarantine_id=item.quarantine_id or quarantine_id_of(dataset, item.contract_version, item.payload),
                dataset=dataset,
                source=source,
                origin=item.origin,
                contract_version=item.contract_version,
                record_id=problem.record_id,
                reason=problem.reason,
                fields=problem.fields,
                payload=_json_payload(item.payload),
                received_at=now,
                trace_id=trace_id,
            )
        self.keep_quarantined(list(records.values()))
        return records

    def keep_quarantined(self, records: Sequence[QuarantinedRecord]) -> None:
        """Store quarantined records, each under its dataset's quarantine prefix."""
        if records:
            self._objects.put_many(
                {
                    quarantine_key(record.dataset, record.quarantine_id): record.model_dump_json().encode()
                    for record in records
                },
                content_type=JSON,
            )


@dataclass
class _Triage:
    """Where each record of a batch stands, by its position in the batch."""

    prepared: dict[int, PreparedRecord] = field(default_factory=dict)
    candidates: dict[int, PreparedRecord] = field(default_factory=dict)
    copies: dict[int, int] = field(default_factory=dict)
    duplicates: set[int] = field(default_factory=set)
    problems: dict[int, RecordProblem] = field(default_factory=dict)

    def settle(self, position: int, record: PreparedRecord, held: LedgerEntry) -> None:
        """A record whose id is already held: a duplicate of the same content, else a conflict."""
        if held.digest == record.digest:
            self.duplicates.add(position)
        else:
            self.problems[position] = _conflict(record, held.location)


def ingest_details(report: IngestReport) -> dict[str, Any]:
    """What an ingestion's audit event keeps: counts, versions, written objects, quarantine ids. Never values."""
    return {
        "dataset": report.dataset,
        "source": report.source,
        "received": report.received,
        "stored": report.stored,
        "duplicates": report.duplicates,
        "quarantined": report.quarantined,
        "stale_online_updates": report.stale_online_updates,
        "contract_versions": report.contract_versions,
        "partitions": report.partitions,
        "quarantine_ids": [entry.quarantine_id for entry in report.quarantine[:AUDITED_IDS]],
    }


def _conflict(record: PreparedRecord, where: str) -> RecordProblem:
    reason = f"record id {record.record_id!r} is already stored with other content ({where})"
    return RecordProblem(reason, [FieldError(field="record", message=reason, type="conflict")], record.record_id)


def _latest_per_entity(records: Iterable[PreparedRecord], version: str) -> list[OnlineUpdate]:
    latest: dict[str, PreparedRecord] = {}
    for record in records:
        held = latest.get(record.entity)
        if held is None or record.event_time > held.event_time:
            latest[record.entity] = record
    return [OnlineUpdate(r.entity, r.online, version, r.event_time) for r in latest.values()]


def _entry(record: QuarantinedRecord) -> QuarantineEntry:
    return QuarantineEntry(
        quarantine_id=record.quarantine_id,
        origin=record.origin,
        record_id=record.record_id,
        reason=record.reason,
        fields=record.fields,
    )


def _json_payload(payload: object) -> object:
    # Payloads come from JSON, but JSON admits text that is not UTF-8 (a lone surrogate): that payload is
    # kept as its escaped JSON text, so that it can still be stored and read back.
    try:
        json.dumps(payload, ensure_ascii=False).encode()
    except (TypeError, ValueError):
        return json.dumps(payload, default=str)
    return payload
