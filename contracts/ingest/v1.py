"""Ingestion contract, version 1: what producers send, and what ingestion answers and keeps.

Records are sent as plain JSON objects and checked one by one against a version of their dataset's
contract (`contracts.dataset.v1`); a record that fails is quarantined, never dropped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, StringConstraints

from contracts._base import AwareInstant, Contract, Instant
from contracts.error.v1 import FieldError

MAX_BATCH_RECORDS = 10_000

Source = Literal["http", "sqs", "kinesis", "replay"]
QUARANTINE_ID_PATTERN = r"^[0-9a-f]{32}$"
QuarantineId = Annotated[str, StringConstraints(pattern=QUARANTINE_ID_PATTERN)]


class IngestBatch(Contract):
    """Body of `POST /v1/ingest/{dataset}`: records of one contract version of the dataset."""

    schema_version: Literal["ingest.v1"] = "ingest.v1"
    contract_version: str = Field(min_length=1, max_length=16, description="Version of the dataset contract, e.g. v2.")
    records: list[JsonValue] = Field(
        min_length=1, max_length=MAX_BATCH_RECORDS, description="Records, each checked on its own against the contract."
    )


class IngestMessage(Contract):
    """Body of one message on the ingest queue, or the data of one record on the ingest stream."""

    schema_version: Literal["ingest.v1"] = "ingest.v1"
    dataset: str = Field(min_length=1, max_length=64)
    contract_version: str = Field(min_length=1, max_length=16)
    record: JsonValue


class QuarantineEntry(Contract):
    """A record that was quarantined, as reports list it."""

    quarantine_id: str
    origin: str = Field(description="Where the record came from: batch index, message id or sequence number.")
    record_id: str | None = None
    reason: str
    fields: list[FieldError] = Field(default_factory=list)


class IngestReport(Contract):
    """What happened to the records of one ingestion: received = stored + quarantined."""

    schema_version: Literal["ingest.v1"] = "ingest.v1"
    dataset: str
    source: Source
    received: int
    stored: int = Field(description="Records held by the store after this ingestion, duplicates included.")
    duplicates: int = Field(description="Of the stored records, those that were already stored before.")
    quarantined: int
    stale_online_updates: int = Field(description="Online features not updated because a newer event was stored.")
    contract_versions: dict[str, int] = Field(default_factory=dict)
    partitions: list[str] = Field(default_factory=list, description="Offline store objects written.")
    quarantine: list[QuarantineEntry] = Field(default_factory=list)
    trace_id: str | None = None


class QuarantinedRecord(Contract):
    """A record that failed its contract, kept with its reason, its source and its raw payload."""

    schema_version: Literal["ingest.v1"] = "ingest.v1"
    quarantine_id: str
    dataset: str
    source: Source
    origin: str
    contract_version: str | None
    record_id: str | None = None
    reason: str
    fields: list[FieldError] = Field(default_factory=list)
    payload: JsonValue = Field(
        description="The record as received; when listed, fields marked pii or protected read '***' unless the "
        "caller's role is granted them."
    )
    received_at: Instant
    trace_id: str


class QuarantinePage(Contract):
    """Body of `GET /v1/ingest/{dataset}/quarantine`: one page of quarantined records."""

    dataset: str
    items: list[QuarantinedRecord]
    next_token: str | None = None


class ReplayRequest(Contract):
    """Body of `POST /v1/ingest/{dataset}/quarantine/replay`: which records to try again, and as which version."""

    quarantine_ids: list[QuarantineId] | None = Field(
        default=None, max_length=1000, description="Records to replay; the first 1000 of the dataset's when absent."
    )
    contract_version: str | None = Field(
        default=None, max_length=16, description="Check the records against this version instead of their own."
    )


class ReplayReport(Contract):
    """What a replay did: replayed = stored + still quarantined."""

    dataset: str
    replayed: int
    stored: int
    duplicates: int
    still_quarantined: int
    quarantine: list[QuarantineEntry] = Field(default_factory=list)
    trace_id: str | None = None


class SnapshotRequest(Contract):
    """Body of `POST /v1/datasets/{dataset}/snapshots`: the event-time range to freeze (all when absent)."""

    since: AwareInstant | None = Field(default=None, description="Earliest event time, with a UTC offset.")
    until: AwareInstant | None = Field(default=None, description="Event times before this one, with a UTC offset.")


class SnapshotManifest(Contract):
    """An immutable dataset snapshot: what it holds, where it came from, and the hash of its content."""

    schema_version: Literal["snapshot.v1"] = "snapshot.v1"
    snapshot_id: str
    dataset: str
    use_case: str
    created_at: Instant
    created_by: str
    data_key: str = Field(description="Object key of the snapshot's Parquet file.")
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    row_count: int
    labeled_rows: int
    excluded_rows: int = Field(
        default=0, description="Stored rows left out: their features were computed by other feature definitions."
    )
    contract_versions: dict[str, int]
    sources: dict[str, int]
    event_time_min: Instant
    event_time_max: Instant
    since: Instant | None = None
    until: Instant | None = None
    feature_version: str
    feature_names: list[str]
    label: str | None
    partitions: list[str] = Field(description="Offline store objects the snapshot was cut from.")


class SnapshotList(Contract):
    """Body of `GET /v1/datasets/{dataset}/snapshots`, newest first."""

    dataset: str
    items: list[SnapshotManifest]
