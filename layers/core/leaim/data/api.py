"""The ingestion API, independent of the web framework: records, quarantine and snapshots over HTTP, audited."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from contracts.error.v1 import FieldError
from contracts.ingest.v1 import QUARANTINE_ID_PATTERN, IngestBatch, ReplayRequest, SnapshotList, SnapshotRequest
from leaim.data.ingestion import Incoming, ingest_details
from leaim.exceptions import SnapshotExistsError
from leaim.governance.access.exceptions import InvalidRequestError
from leaim.governance.access.gate import GovernedHttp, HttpAnswer
from leaim.governance.access.policy import Permission, require_dataset

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import BaseModel

    from leaim.data.ingestion import IngestionService
    from leaim.data.quarantine import QuarantineService
    from leaim.data.snapshots import SnapshotService
    from leaim.governance.access.gate import HttpGate, Invocation
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import Principal

DEFAULT_PAGE = 100


class IngestionApi(GovernedHttp):
    """`/v1/ingest/{dataset}` and `/v1/datasets/{dataset}/snapshots` routes, one audit event per invocation."""

    def __init__(
        self,
        *,
        ingestion: IngestionService,
        quarantine: QuarantineService,
        snapshots: SnapshotService,
        gate: HttpGate,
    ) -> None:
        super().__init__(gate)
        self._ingestion = ingestion
        self._quarantine = quarantine
        self._snapshots = snapshots

    def ingest(self, dataset: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/ingest/{dataset}`: store the good records of a batch, quarantine the bad ones."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_dataset(principal, dataset)
            self._ingestion.datasets.versions(dataset)
            batch = self._parse(IngestBatch, self._json(body, invocation), "ingest.v1")
            items = [
                Incoming(payload=record, contract_version=batch.contract_version, origin=f"records[{index}]")
                for index, record in enumerate(batch.records)
            ]
            report = self._ingestion.ingest(dataset, items, source="http", trace_id=audit.trace_id).report
            return report, ingest_details(report)

        return self._serve(invocation, "ingest.records", Permission.INGEST_RECORDS, {"dataset": dataset}, work)

    def quarantine(self, dataset: str, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """`GET /v1/ingest/{dataset}/quarantine?after=&limit=`: one page of quarantined records, the fields marked pii
        or protected masked unless the caller's role is granted them."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_dataset(principal, dataset)
            page = self._quarantine.page(dataset, principal, after=_after(query), limit=_limit(query))
            return page, {"dataset": dataset, "listed": len(page.items)}

        return self._serve(invocation, "ingest.quarantine.list", Permission.READ_QUARANTINE, {"dataset": dataset}, work)

    def replay(self, dataset: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/ingest/{dataset}/quarantine/replay`: check quarantined records again, store the good ones."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_dataset(principal, dataset)
            request = self._parse(ReplayRequest, self._json(body or b"{}", invocation), "a replay request")
            report = self._quarantine.replay(dataset, request, trace_id=audit.trace_id)
            details = {
                "dataset": dataset,
                "replayed": report.replayed,
                "stored": report.stored,
                "still_quarantined": report.still_quarantined,
                "contract_version": request.contract_version,
            }
            return report, details

        return self._serve(
            invocation, "ingest.quarantine.replay", Permission.REPLAY_QUARANTINE, {"dataset": dataset}, work
        )

    def create_snapshot(self, dataset: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`POST /v1/datasets/{dataset}/snapshots`: freeze the stored records (of an event-time range)."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_dataset(principal, dataset)
            request = self._parse(SnapshotRequest, self._json(body or b"{}", invocation), "a snapshot request")
            self._ingestion.datasets.versions(dataset)
            try:
                snapshot = self._snapshots.cut(
                    dataset, principal=principal.name, since=request.since, until=request.until
                )
            except SnapshotExistsError as error:
                raise SnapshotExistsError(f"{error}: send the request again") from error
            details = {
                "dataset": dataset,
                "snapshot_id": snapshot.snapshot_id,
                "content_sha256": snapshot.content_sha256,
                "row_count": snapshot.row_count,
                "contract_versions": snapshot.contract_versions,
            }
            return snapshot, details

        return self._serve(
            invocation, "dataset.snapshot.create", Permission.CREATE_SNAPSHOT, {"dataset": dataset}, work, status=201
        )

    def list_snapshots(self, dataset: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/datasets/{dataset}/snapshots`: the dataset's snapshots, newest first."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_dataset(principal, dataset)
            items = self._snapshots.list(dataset)
            return SnapshotList(dataset=dataset, items=items), {"dataset": dataset, "listed": len(items)}

        return self._serve(invocation, "dataset.snapshot.list", Permission.READ_SNAPSHOTS, {"dataset": dataset}, work)

    def read_snapshot(self, dataset: str, snapshot_id: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/datasets/{dataset}/snapshots/{snapshot_id}`: one snapshot's manifest."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            require_dataset(principal, dataset)
            return self._snapshots.get(dataset, snapshot_id), {"dataset": dataset, "snapshot_id": snapshot_id}

        return self._serve(invocation, "dataset.snapshot.read", Permission.READ_SNAPSHOTS, {"dataset": dataset}, work)


def _after(query: Mapping[str, str]) -> str | None:
    text = query.get("after")
    # A quarantine id or nothing: anything else would be sent to the object store as a key to start after.
    if text is not None and not re.fullmatch(QUARANTINE_ID_PATTERN, text):
        raise InvalidRequestError(
            "after must be a quarantine id",
            [FieldError(field="query.after", message="must be a quarantine id (32 hex digits)", type="value_error")],
        )
    return text


def _limit(query: Mapping[str, str]) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_PAGE
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1000:
        raise InvalidRequestError(
            "limit must be a whole number from 1 to 1000",
            [FieldError(field="query.limit", message="must be a whole number from 1 to 1000", type="value_error")],
        )
    return int(text)
