"""Immutable dataset snapshots: the stored records of a dataset, frozen, hashed and described by a manifest.

A snapshot holds only the rows the ledger confirms (a row counts where its ledger entry names its object),
one per record id, sorted by event time and record id. Training reads snapshots, never live partitions:
`read` refuses a snapshot whose content no longer matches the hash in its manifest.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.ingest.v1 import SnapshotManifest
from leaim.data.ingestion import JSON, PARQUET, offline_prefix
from leaim.data.parquet import decode, encode
from leaim.data.records import CONTRACT_VERSION, FEATURE_VERSION, SOURCE, feature_version, stored_columns
from leaim.exceptions import (
    EmptySnapshotError,
    NotFoundError,
    SnapshotExistsError,
    SnapshotIntegrityError,
)

if TYPE_CHECKING:
    from leaim.data.datasets import DatasetCatalog
    from leaim.data.parquet import ParquetTable
    from leaim.data.ports import ObjectStore, RecordLedger
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog

SNAPSHOT_PREFIX = "snapshots"


def snapshot_prefix(dataset: str) -> str:
    """Prefix of a dataset's snapshots."""
    return f"{SNAPSHOT_PREFIX}/{dataset}/"


class SnapshotService:
    """Cuts, lists and reads dataset snapshots."""

    def __init__(
        self,
        *,
        datasets: DatasetCatalog,
        manifests: ManifestCatalog,
        objects: ObjectStore,
        ledger: RecordLedger,
        clock: Clock,
    ) -> None:
        self._datasets = datasets
        self._manifests = manifests
        self._objects = objects
        self._ledger = ledger
        self._clock = clock

    def cut(
        self, dataset: str, *, principal: str, since: datetime | None = None, until: datetime | None = None
    ) -> SnapshotManifest:
        """Freeze the dataset's stored records with an event time in [since, until).

        Raises NotFoundError for an unknown dataset and EmptySnapshotError when no record is in range.
        """
        latest = self._datasets.latest(dataset)
        manifest = self._manifests.get(latest.use_case)
        columns = stored_columns(latest, manifest)
        partitions = [
            key
            for key in self._objects.keys(offline_prefix(dataset))
            if _day_in_range(key, since, until) and key.endswith(".parquet")
        ]
        read = [
            (key, [row for row in decode(blob).rows() if _in_range(row[latest.event_time], since, until)])
            for key, blob in self._objects.get_many(partitions).items()
        ]
        ledger = self._ledger.lookup(dataset, sorted({str(row[latest.record_id]) for _, rows in read for row in rows}))
        # The ledger names one object per record id: a copy elsewhere (a retried or raced batch) is not stored.
        confirmed = [
            row
            for key, rows in read
            for row in rows
            if (entry := ledger.get(str(row[latest.record_id]))) is not None and entry.location == key
        ]
        # Rows whose features came from other definitions cannot sit beside the current ones.
        version = feature_version(manifest)
        kept = [row for row in confirmed if row[FEATURE_VERSION] == version]
        if not kept:
            raise EmptySnapshotError(f"dataset {dataset!r} has no stored record in the requested range")
        kept.sort(key=lambda row: (row[latest.event_time], row[latest.record_id]))
        data = {column.name: [row.get(column.name) for row in kept] for column in columns}
        created = datetime.fromtimestamp(self._clock.now(), UTC)
        blob = encode(columns, data, metadata={"leaim.dataset": dataset, "leaim.feature_version": version})
        digest = hashlib.sha256(blob).hexdigest()
        snapshot_id = f"{dataset}-{created:%Y%m%dT%H%M%S%f}-{digest[:8]}"
        times = [row[latest.event_time] for row in kept]
        labels = data[latest.label] if latest.label else []
        snapshot = SnapshotManifest(
            snapshot_id=snapshot_id,
            dataset=dataset,
            use_case=manifest.name,
            created_at=created,
            created_by=principal,
            data_key=f"{snapshot_prefix(dataset)}{snapshot_id}/data.parquet",
            content_sha256=digest,
            row_count=len(kept),
            labeled_rows=sum(1 for label in labels if label is not None),
            excluded_rows=len(confirmed) - len(kept),
            contract_versions=dict(Counter(str(row[CONTRACT_VERSION]) for row in kept)),
            sources=dict(Counter(str(row[SOURCE]) for row in kept)),
            event_time_min=min(times),  # type: ignore[type-var]
            event_time_max=max(times),  # type: ignore[type-var]
            since=since,
            until=until,
            feature_version=version,
            feature_names=manifest.feature_names,
            label=latest.label,
            partitions=partitions,
        )
        # Written once: a snapshot id that exists is never overwritten, the data before the manifest that names it.
        self._objects.put(snapshot.data_key, blob, content_type=PARQUET, if_absent=True)
        if not self._objects.put(
            _manifest_key(dataset, snapshot_id), snapshot.model_dump_json().encode(), content_type=JSON, if_absent=True
        ):
            raise SnapshotExistsError(f"snapshot {snapshot_id} already exists")
        return snapshot

    def list(self, dataset: str) -> list[SnapshotManifest]:
        """The dataset's snapshots, newest first. Raises NotFoundError for an unknown dataset."""
        self._datasets.versions(dataset)
        keys = [key for key in self._objects.keys(snapshot_prefix(dataset)) if key.endswith("/manifest.json")]
        manifests = [self._manifest(key) for key in keys]
        return sorted((m for m in manifests if m is not None), key=lambda m: m.created_at, reverse=True)

    def get(self, dataset: str, snapshot_id: str) -> SnapshotManifest:
        """One snapshot's manifest; NotFoundError when the dataset or the snapshot does not exist."""
        self._datasets.versions(dataset)
        manifest = self._manifest(_manifest_key(dataset, snapshot_id))
        if manifest is None:
            raise NotFoundError(f"dataset {dataset!r} has no snapshot {snapshot_id!r}")
        return manifest

    def read(self, dataset: str, snapshot_id: str) -> tuple[SnapshotManifest, ParquetTable]:
        """A snapshot's manifest and rows, after checking its content against the manifest's hash."""
        manifest = self.get(dataset, snapshot_id)
        blob = self._objects.get(manifest.data_key)
        if blob is None:
            raise SnapshotIntegrityError(f"snapshot {snapshot_id}: its data {manifest.data_key} is missing")
        digest = hashlib.sha256(blob).hexdigest()
        if digest != manifest.content_sha256:
            raise SnapshotIntegrityError(
                f"snapshot {snapshot_id}: content hash {digest} differs from its manifest's {manifest.content_sha256}"
            )
        return manifest, decode(blob)

    def _manifest(self, key: str) -> SnapshotManifest | None:
        body = self._objects.get(key)
        return None if body is None else SnapshotManifest.model_validate_json(body)


def _manifest_key(dataset: str, snapshot_id: str) -> str:
    return f"{snapshot_prefix(dataset)}{snapshot_id}/manifest.json"


def _in_range(moment: object, since: datetime | None, until: datetime | None) -> bool:
    assert isinstance(moment, datetime)
    return (since is None or moment >= since) and (until is None or moment < until)


def _utc_day(moment: datetime) -> str:
    """The UTC day of `moment`; a time whose UTC day falls outside the years 1 to 9999 gets the nearest one."""
    try:
        return moment.astimezone(UTC).date().isoformat()
    except OverflowError:
        return "0001-01-01" if moment.year == 1 else "9999-12-31"


def _day_in_range(key: str, since: datetime | None, until: datetime | None) -> bool:
    """Whether a `.../date=YYYY-MM-DD/...` partition can hold events in [since, until)."""
    marker = key.find("date=")
    if marker < 0:
        return False
    day = key[marker + 5 : marker + 15]
    if since is not None and day < _utc_day(since):
        return False
    return not (until is not None and day > _utc_day(until))
