"""A client of the ingestion API: batches of records in, quarantine listed and replayed, snapshots cut and listed."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from contracts.ingest.v1 import IngestReport, QuarantinePage, ReplayReport, SnapshotList, SnapshotManifest
from embedded.clients.base import ApiClient, segment

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from pydantic import JsonValue


class IngestClient(ApiClient):
    """The ingestion API's routes as methods."""

    def ingest_batch(self, dataset: str, records: Sequence[JsonValue], contract_version: str = "v1") -> IngestReport:
        """`POST /v1/ingest/{dataset}`: store the good records, quarantine the bad ones, report both."""
        body = {"contract_version": contract_version, "records": list(records)}
        return self._call(IngestReport, "POST", f"/v1/ingest/{segment(dataset)}", body)

    def quarantine_page(self, dataset: str, *, after: str | None = None, limit: int = 100) -> QuarantinePage:
        """`GET /v1/ingest/{dataset}/quarantine`: up to `limit` (at most 1000) quarantined records after `after`."""
        query = {"limit": str(limit)} | ({"after": after} if after else {})
        path = f"/v1/ingest/{segment(dataset)}/quarantine?{urllib.parse.urlencode(query)}"
        return self._call(QuarantinePage, "GET", path)

    def replay(
        self, dataset: str, *, quarantine_ids: Sequence[str] | None = None, contract_version: str | None = None
    ) -> ReplayReport:
        """`POST /v1/ingest/{dataset}/quarantine/replay`: check the records again (all when no ids are given)."""
        body: dict[str, object] = {}
        if quarantine_ids is not None:
            body["quarantine_ids"] = list(quarantine_ids)
        if contract_version is not None:
            body["contract_version"] = contract_version
        return self._call(ReplayReport, "POST", f"/v1/ingest/{segment(dataset)}/quarantine/replay", body)

    def create_snapshot(
        self, dataset: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> SnapshotManifest:
        """`POST /v1/datasets/{dataset}/snapshots`: freeze the stored records of an event-time range (default: all)."""
        body = {name: moment.isoformat() for name, moment in (("since", since), ("until", until)) if moment}
        return self._call(SnapshotManifest, "POST", f"/v1/datasets/{segment(dataset)}/snapshots", body)

    def list_snapshots(self, dataset: str) -> list[SnapshotManifest]:
        """`GET /v1/datasets/{dataset}/snapshots`: the dataset's snapshots, newest first."""
        return self._call(SnapshotList, "GET", f"/v1/datasets/{segment(dataset)}/snapshots").items
