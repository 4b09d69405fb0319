"""Relational schema of the audit store, the model registry and the training jobs.

These rows are storage shapes, not contracts: the adapters translate them to and from `contracts`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKeyConstraint,
    Index,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps stored as UTC; naive values are taken to be UTC already.

    SQLite has no timezone type and would silently drop the offset, so every value is normalised to UTC
    on the way in and comes back aware on both backends.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime whatever the backend handed back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonDocument(TypeDecorator[Any]):
    """JSON everywhere, stored as JSONB on PostgreSQL so the documents can be indexed and queried."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Pick JSONB on PostgreSQL, plain JSON elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


class AuditEventRow(SQLModel, table=True):
    """One `contracts.audit.v1.AuditEvent`, column for field, and its link in its writer's hash chain."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_source_action_outcome", "source", "action", "outcome"),
        Index("uq_audit_events_chain_id_chain_seq", "chain_id", "chain_seq", unique=True),
    )

    event_id: str = Field(primary_key=True)
    schema_version: str
    occurred_at: datetime = Field(sa_type=UtcDateTime, index=True)
    source: str
    action: str
    invocation_id: str
    outcome: str
    trace_id: str = Field(index=True)
    duration_ms: float
    status_code: int | None = None
    principal: str | None = None
    role: str | None = None
    use_case: str | None = None
    request_id: str | None = None
    decision_id: str | None = Field(default=None, index=True)
    model_name: str | None = None
    model_version: str | None = None
    artifact_digest: str | None = None
    worker: str | None = None
    batch_size: int | None = None
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JsonDocument)
    chain_id: str
    chain_seq: int
    prev_hash: str = Field(description="event_hash of the link before, 64 zeros for the first.")
    event_hash: str = Field(
        description="sha256 of the canonical chain position and event (leaim.governance.audit.chain)."
    )


class AuditIntakeRow(SQLModel, table=True):
    """One transaction of the audit writer: accepted bundles moved into its chain, and how long they waited.

    `lag_s` is the wait of the batch's oldest bundle, from its acceptance to the commit that chained it.
    """

    __tablename__ = "audit_intake"

    batch_id: str = Field(primary_key=True)
    chain_id: str
    committed_at: datetime = Field(sa_type=UtcDateTime, index=True)
    bundles: int
    events: int = Field(description="Events chained by this transaction.")
    duplicates: int = Field(description="Events of its bundles that were chained already, and skipped.")
    oldest_accepted_at: datetime = Field(sa_type=UtcDateTime)
    newest_accepted_at: datetime = Field(sa_type=UtcDateTime)
    lag_s: float


class AuditDigestRow(SQLModel, table=True):
    """One signed digest of the heads of every chain (`contracts.trail.v1.SignedDigest`) and where it is archived."""

    __tablename__ = "audit_digests"

    sequence: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    created_at: datetime = Field(sa_type=UtcDateTime)
    heads: dict[str, Any] = Field(sa_type=JsonDocument)
    events: int = Field(sa_type=BigInteger)
    previous_hash: str
    digest_hash: str
    signature: str
    key_id: str
    archive_key: str | None = None
    archive_version_id: str | None = None


class AuditPurgeRow(SQLModel, table=True):
    """One signed purge receipt (`contracts.trail.v1.SignedPurge`), stored whole in the transaction that purged."""

    __tablename__ = "audit_purges"

    sequence: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    created_at: datetime = Field(sa_type=UtcDateTime)
    signed: dict[str, Any] = Field(sa_type=JsonDocument)


class PurgedEventRow(SQLModel, table=True):
    """The id of an audit event a purge removed: what its receipt's event tally is recomputed from."""

    __tablename__ = "purged_events"

    event_id: str = Field(primary_key=True)
    purge_sequence: int = Field(index=True)


class PurgedDecisionRow(SQLModel, table=True):
    """The id of a decision a purge removed, with its overrides and outcomes: events recording it may outlive it."""

    __tablename__ = "purged_decisions"

    decision_id: str = Field(primary_key=True)
    purge_sequence: int = Field(index=True)


class DecisionRedactionRow(SQLModel, table=True):
    """A decision whose inputs, features or reasons a purge removed: the parts, and the hash of what remains."""

    __tablename__ = "decision_redactions"

    decision_id: str = Field(primary_key=True)
    purge_sequence: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    parts: str = Field(description="What was removed: inputs, reasons, or both, comma-separated.")
    sha256: str = Field(description="decision_sha256 of the decision's columns after the removal.")


class LegalHoldRow(SQLModel, table=True):
    """A legal hold on a use case's records (`contracts.governance.v1.LegalHold`)."""

    __tablename__ = "legal_holds"

    hold_id: str = Field(primary_key=True)
    use_case: str = Field(index=True)
    reason: str
    placed_by: str
    placed_at: datetime = Field(sa_type=UtcDateTime)
    released_by: str | None = None
    released_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    release_reason: str | None = None


class DecisionRow(SQLModel, table=True):
    """One decision, at most one per (use case, caller's request id)."""

    __tablename__ = "decisions"
    __table_args__ = (UniqueConstraint("use_case", "request_id", name="uq_decisions_use_case_request_id"),)

    decision_id: str = Field(primary_key=True)
    use_case: str
    request_id: str
    outcome: str
    fallback: bool
    model_name: str | None = None
    model_version: str | None = None
    response: dict[str, Any] = Field(sa_type=JsonDocument)
    inputs: dict[str, Any] = Field(sa_type=JsonDocument)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime, index=True)
    score: float | None = None
    review_required: bool = Field(default=False, index=True)
    features: dict[str, float] | None = Field(default=None, sa_type=JsonDocument)


class ModelVersionRow(SQLModel, table=True):
    """One immutable, signed model version; `manifest` is the whole `SignedManifest` as published.

    The other columns repeat fields of the manifest that are filtered, listed or routed on, so those
    reads need not parse the document.
    """

    __tablename__ = "model_versions"

    name: str = Field(primary_key=True)
    version: str = Field(primary_key=True)
    use_case: str
    family: str
    artifact_digest: str
    feature_names: list[str] = Field(sa_type=JsonDocument)
    status: str
    manifest: dict[str, Any] = Field(sa_type=JsonDocument)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class TrafficPolicyRow(SQLModel, table=True):
    """Which versions of one model serve a use case; `revision` makes every change a conditional write."""

    __tablename__ = "traffic_policies"
    __table_args__ = (
        ForeignKeyConstraint(
            ["model_name", "champion_version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_traffic_policies_champion",
        ),
        ForeignKeyConstraint(
            ["model_name", "challenger_version"],
            ["model_versions.name", "model_versions.version"],
            name="fk_traffic_policies_challenger",
        ),
        ForeignKeyConstraint(
            ["model_name", "previous_champion"],
            ["model_versions.name", "model_versions.version"],
            name="fk_traffic_policies_previous_champion",
        ),
        CheckConstraint(
            "(challenger_version IS NULL) = (policy IS NULL)", name="ck_traffic_policies_challenger_has_policy"
        ),
    )

    use_case: str = Field(primary_key=True)
    model_name: str
    champion_version: str
    challenger_version: str | None = None
    policy: str | None = None
    canary_percent: float = 0.0
    previous_champion: str | None = None
    revision: int
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    updated_by: str


class TrafficChangeRow(SQLModel, table=True):
    """One change of a use case's traffic policy, written in the transaction that makes it: its history.

    `change` is what the change did: `promote` (a new champion, the first one included), `challenge` (a new or
    replaced challenger), `clear` (a challenger taken out of traffic) or `restore` (the previous champion back).
    `version` is the version the change put in traffic, None for `clear`.
    """

    __tablename__ = "traffic_changes"
    __table_args__ = (Index("ix_traffic_changes_use_case_changed_at", "use_case", "changed_at"),)

    use_case: str = Field(primary_key=True)
    revision: int = Field(primary_key=True)
    change: str
    model_name: str
    version: str | None = None
    champion_version: str
    challenger_version: str | None = None
    policy: str | None = None
    changed_at: datetime = Field(sa_type=UtcDateTime)
    changed_by: str


class TrainingJobRow(SQLModel, table=True):
    """One `contracts.model.v1.TrainingJob`, column for field."""

    __tablename__ = "training_jobs"
    # A version is reserved by the first job that asks for it, until that job fails: two jobs racing for one
    # version cannot both spend GPU time only for one of them to be refused at publication.
    __table_args__ = (
        Index(
            "uq_training_jobs_live_version",
            "model_name",
            "version",
            unique=True,
            sqlite_where=text("state != 'failed'"),
            postgresql_where=text("state != 'failed'"),
        ),
    )

    job_id: str = Field(primary_key=True)
    schema_version: str
    model_name: str
    use_case: str
    version: str
    snapshot_id: str
    family: str
    params: dict[str, Any] = Field(sa_type=JsonDocument)
    seed: int
    deploy: str
    trigger: str
    reason: str | None = None
    requested_by: str
    state: str
    stage: str
    progress: float
    message: str | None = None
    reasons: list[str] = Field(sa_type=JsonDocument)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class OutcomeRow(SQLModel, table=True):
    """The ground truth of one decision: at most one per decision."""

    __tablename__ = "outcomes"

    decision_id: str = Field(primary_key=True)
    use_case: str = Field(index=True)
    label: bool
    observed_at: datetime = Field(sa_type=UtcDateTime)
    source: str | None = None
    reported_by: str
    recorded_at: datetime = Field(sa_type=UtcDateTime)


class OverrideRow(SQLModel, table=True):
    """A reviewer's final outcome for a decision in the review band: at most one per decision."""

    __tablename__ = "overrides"

    decision_id: str = Field(primary_key=True)
    use_case: str = Field(index=True)
    original_outcome: str
    outcome: str
    justification: str
    reviewer: str
    reviewed_at: datetime = Field(sa_type=UtcDateTime)
    event_id: str


class MonitorReportRow(SQLModel, table=True):
    """One drift or bias report of the monitor, the whole `governance.v1` report as a document."""

    __tablename__ = "monitor_reports"
    __table_args__ = (Index("ix_monitor_reports_use_case_kind_computed", "use_case", "kind", "computed_at"),)

    report_id: str = Field(primary_key=True)
    use_case: str
    kind: str
    model_version: str | None = None
    status: str
    computed_at: datetime = Field(sa_type=UtcDateTime)
    report: dict[str, Any] = Field(sa_type=JsonDocument)


class AlertRow(SQLModel, table=True):
    """A drift, bias or abuse threshold crossed; one open alert per (use case, kind, version, subject)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_subject",
            "use_case",
            "kind",
            "model_version",
            "subject",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    alert_id: str = Field(primary_key=True)
    use_case: str
    kind: str
    model_version: str
    subject: str
    message: str
    opened_at: datetime = Field(sa_type=UtcDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    report_id: str
    evidence: dict[str, Any] | None = Field(default=None, sa_type=JsonDocument)


ALL: tuple[Table, ...] = tuple(
    SQLModel.metadata.tables[name]
    for name in (
        "audit_events",
        "audit_intake",
        "audit_digests",
        "audit_purges",
        "purged_events",
        "purged_decisions",
        "decision_redactions",
        "legal_holds",
        "decisions",
        "model_versions",
        "traffic_policies",
        "traffic_changes",
        "training_jobs",
        "outcomes",
        "overrides",
        "monitor_reports",
        "alerts",
    )
)
