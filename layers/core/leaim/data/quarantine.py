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

if TYPE_CHECKING:
    from contracts.ingest.v1 import ReplayRequest
    from leaim.data.ingestion import IngestionService
    from leaim.data.ports import ObjectStore

MASK = "***"
MAX_PAGE = 1000


class QuarantineService:
    """Lists and replays a dataset's quarantined records."""

    def __init__(self, *, ingestion: IngestionService, objects: ObjectStore) -> None:
        self._ingestion = ingestion
        self._objects = objects

    def page(self, dataset: str, *, after: str | None = None, limit: int = 100) -> QuarantinePage:
        """Up to `limit` quarantined records after the id `after`, with PII fields masked.

        `dataset` may be `_unrouted`: messages that named no known dataset or could not be read.
        Raises NotFoundError for an unknown dataset.
        """
        pii = self._pii_fields(dataset)
        prefix = quarantine_prefix(dataset)
        start = quarantine_key(dataset, after) if after else None
        keys = self._objects.keys(prefix, start_after=start, limit=min(max(limit, 1), MAX_PAGE))
        items = [_masked(record, pii) for record in self._load(keys)]
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

    def _pii_fields(self, dataset: str) -> set[str]:
        if dataset == UNROUTED:
            return set()
        catalog = self._ingestion.datasets
        # Versions only add fields, so the newest one names every PII field of the dataset.
        return {field.name for field in catalog.latest(dataset).fields if field.pii}

    def _load(self, keys: list[str]) -> list[QuarantinedRecord]:
        bodies = self._objects.get_many(keys)
        return [QuarantinedRecord.model_validate_json(bodies[key]) for key in keys if key in bodies]


def _masked(record: QuarantinedRecord, pii: set[str]) -> QuarantinedRecord:
    payload = record.payload
    if record.dataset == UNROUTED or not isinstance(payload, dict):
        # No contract says which parts of an unreadable message or a non-object record are personal: none is listed.
        return record.model_copy(update={"payload": MASK})
    if not isinstance(payload, dict) or not pii & payload.keys():
        return record
    masked = {name: MASK if name in pii and value is not None else value for name, value in payload.items()}
    return record.model_copy(update={"payload": masked})
