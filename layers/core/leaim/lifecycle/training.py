"""Training orchestration: prepare features with the serving transforms, call the training worker, register."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts.audit.v1 import AuditEvent
from contracts.training.v1 import TrainingRequest
from leaim.data.records import training_matrix
from leaim.domain.deadline import Deadline
from leaim.domain.features import feature_matrix
from leaim.exceptions import WorkerError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contracts.ingest.v1 import SnapshotManifest
    from contracts.manifest.v1 import UseCaseManifest
    from contracts.training.v1 import TrainingResult
    from leaim.data.parquet import ParquetTable
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog
    from leaim.lifecycle.ports import ModelRegistry
    from leaim.orchestration.ports import Telemetry, WorkerClient

TRAINING_SOURCE = "worker:leaim-training"


@dataclass(frozen=True, slots=True)
class LabeledRecord:
    """Raw inputs, the entity's online features at that time, and the label."""

    inputs: Mapping[str, object]
    online: Mapping[str, object]
    label: int


class TrainingService:
    """Trains a use case's model on the training worker and publishes the version to the registry."""

    def __init__(
        self,
        *,
        workers: WorkerClient,
        registry: ModelRegistry,
        audit_log: AuditLog,
        telemetry: Telemetry,
        clock: Clock,
        principal: str,
    ) -> None:
        self._workers = workers
        self._registry = registry
        self._audit_log = audit_log
        self._telemetry = telemetry
        self._clock = clock
        self._principal = principal

    def train(
        self,
        manifest: UseCaseManifest,
        records: Sequence[LabeledRecord],
        *,
        version: str,
        seed: int,
        timeout_s: float,
        activate: bool = True,
    ) -> TrainingResult:
        """Train, register and (by default) activate one version. Every worker call is audited."""
        with self._telemetry.span("training.job", {"model": manifest.model.name, "version": version}):
            rows = feature_matrix(manifest, [(record.inputs, record.online) for record in records])
            labels = [record.label for record in records]
            return self._train(manifest, rows, labels, version, seed, timeout_s, activate, {})

    def train_on_snapshot(
        self,
        manifest: UseCaseManifest,
        snapshot: SnapshotManifest,
        table: ParquetTable,
        *,
        version: str,
        seed: int,
        timeout_s: float,
        activate: bool = True,
    ) -> TrainingResult:
        """Train on a dataset snapshot's labeled rows, with the features computed when they were ingested.

        The snapshot's id and content hash are recorded in the training call's audit event.
        """
        with self._telemetry.span("training.job", {"model": manifest.model.name, "version": version}):
            rows, labels = training_matrix(manifest, snapshot, table)
            lineage = {"snapshot_id": snapshot.snapshot_id, "snapshot_sha256": snapshot.content_sha256}
            return self._train(manifest, rows, labels, version, seed, timeout_s, activate, lineage)

    def _train(
        self,
        manifest: UseCaseManifest,
        rows: list[list[float]],
        labels: list[int],
        version: str,
        seed: int,
        timeout_s: float,
        activate: bool,
        lineage: dict[str, str],
    ) -> TrainingResult:
        job_id = uuid.uuid4().hex
        deadline = Deadline.within(timeout_s * 1000.0, now=self._clock.now(), monotonic=self._clock.monotonic)
        request = TrainingRequest(
            job_id=job_id,
            model_name=manifest.model.name,
            model_version=version,
            family=manifest.model.family,
            params=dict(manifest.model.params),
            seed=seed,
            feature_names=manifest.feature_names,
            rows=rows,
            labels=labels,
            trace_context=self._telemetry.carrier(),
            deadline_unix_ms=deadline.expires_unix_ms,
        )
        started = self._clock.monotonic()
        try:
            result = self._workers.train(request, timeout_s)
        except WorkerError as error:
            self._audit(manifest, request, started, lineage, error=f"{type(error).__name__}: {error}")
            raise
        self._audit(manifest, request, started, lineage, result=result)
        self._registry.register(
            manifest.model.name,
            version,
            artifact_digest=result.artifact_digest,
            family=manifest.model.family,
            feature_names=result.feature_names,
            params=dict(manifest.model.params),
            metrics=result.metrics.model_dump(),
        )
        if activate:
            self._registry.activate(manifest.name, manifest.model.name, version)
        return result

    def _audit(
        self,
        manifest: UseCaseManifest,
        request: TrainingRequest,
        started: float,
        lineage: dict[str, str],
        *,
        result: TrainingResult | None = None,
        error: str | None = None,
    ) -> None:
        self._audit_log.append(
            AuditEvent(
                event_id=uuid.uuid4().hex,
                occurred_at=datetime.fromtimestamp(self._clock.now(), UTC),
                source=TRAINING_SOURCE,
                action="worker.training",
                invocation_id=request.job_id,
                outcome="error" if error else "success",
                trace_id=self._telemetry.trace_id(),
                duration_ms=round((self._clock.monotonic() - started) * 1000.0, 3),
                principal=self._principal,
                use_case=manifest.name,
                model_name=request.model_name,
                model_version=request.model_version,
                artifact_digest=result.artifact_digest if result else None,
                worker=result.worker if result else TRAINING_SOURCE,
                batch_size=len(request.rows),
                error=error,
                details={**lineage, "metrics": result.metrics.model_dump()} if result else dict(lineage),
            )
        )
