"""The quarantine: records that failed their contract, listed with their reasons and replayed once fixed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.ingest.v1 import QuarantinedRecord, QuarantinePage, ReplayReport
from leaim.data.ingestion import (
    REPORTED_QUARANTINE,
    UNROUTED,
    Incoming,
    quarantine_key,
    quarantine_prefix,
)
from leaim.governance.access.masking import MASK, FieldMarks, dataset_marks, mask

if TYPE_CHECKING:
    from contracts.ingest.v1 import ReplayRequest
    from leaim.data.ingestion import IngestionService
    from leaim.data.ports import ObjectStore
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.ports import Principal

MAX_PAGE = 1000


class QuarantineService:
    """Lists and replays a dataset's quarantined records."""

    def __init__(self, *, ingestion: IngestionService, manifests: ManifestCatalog, objects: ObjectStore) -> None:
        self._ingestion = ingestion
        self._manifests = manifests
        self._objects = objects

    def page(self, dataset: str, principal: Principal, *, after: str | None = None, limit: int = 100) -> QuarantinePage:
        """Up to `limit` quarantined records after the id `after`, with the fields the dataset marks (or the use case
        it feeds marks) masked unless the principal's role is granted them.

        `dataset` may be `_unrouted`: messages that named no known dataset or could not be read, listed masked whole.
        Raises NotFoundError for an unknown dataset.
        """
        marks = self._marks(dataset)
        prefix = quarantine_prefix(dataset)
        start = quarantine_key(dataset, after) if after else None
        keys = self._objects.keys(prefix, start_after=start, limit=min(max(limit, 1), MAX_PAGE))
        items = [_masked(record, marks, principal) for record in self._load(keys)]
        more = len(keys) == min(max(limit, 1), MAX_PAGE)
        return QuarantinePage(
            dataset=dataset, items=items, next_token=items[-1].quarantine_id if more and items else None
        )

    def replay(self, dataset: str, request: ReplayRequest, *, trace_id: str) -> ReplayReport:
        """Check quarantined records again (against `request.contract_version` when given) and store the good ones.

        A record that passes leaves the quarantine; one that fails again stays, with its new reason. Without
        ids, the first 1000 records of the dataset's quarantine are replayed. Raises NotFoundError for an
        unknown dataset.
        """
        self._ingestion.datasets.versions(dataset)
        if request.quarantine_ids is not None:
            keys = [quarantine_key(dataset, quarantine_id) for quarantine_id in dict.fromkeys(request.quarantine_ids)]
        else:
            keys = self._objects.keys(quarantine_prefix(dataset), limit=MAX_PAGE)
        records = self._load(keys)
        items = [
            Incoming(
                payload=record.payload,
                contract_version=request.contract_version or record.contract_version,
                origin=record.origin,
                quarantine_id=record.quarantine_id,
            )
            for record in records
        ]
        result = self._ingestion.ingest(dataset, items, source="replay", trace_id=trace_id)
        for position in sorted(result.stored_positions):
            self._objects.delete(quarantine_key(dataset, records[position].quarantine_id))
        report = result.report
        return ReplayReport(
            dataset=dataset,
            replayed=report.received,
            stored=report.stored,
            duplicates=report.duplicates,
            still_quarantined=report.quarantined,
            quarantine=report.quarantine[:REPORTED_QUARANTINE],
            trace_id=trace_id,
        )

    def _marks(self, dataset: str) -> FieldMarks:
        if dataset == UNROUTED:
            return FieldMarks({})
        # Versions only add fields, so the newest one names every marked field of the dataset.
        latest = self._ingestion.datasets.latest(dataset)
        return dataset_marks(latest, self._manifests.get(latest.use_case))

    def _load(self, keys: list[str]) -> list[QuarantinedRecord]:
        bodies = self._objects.get_many(keys)
        return [QuarantinedRecord.model_validate_json(bodies[key]) for key in keys if key in bodies]


def _masked(record: QuarantinedRecord, marks: FieldMarks, principal: Principal) -> QuarantinedRecord:
    payload = record.payload
    if record.dataset == UNROUTED or not isinstance(payload, dict):
        # No contract says which parts of an unreadable message or a non-object record are personal: none is listed.
        return record.model_copy(update={"payload": MASK})
    return record.model_copy(update={"payload": mask(payload, marks, principal)})
