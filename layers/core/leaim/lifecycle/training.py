"""Training jobs: accepted over the API, queued, run on the training worker, gated, signed and registered.

A job reads one dataset snapshot (checked against its content hash), trains on the features computed
when its records were ingested, evaluates the gates of the use case's manifest, stores the artifact
under its sha256, signs the version's manifest and publishes it to the registry, approved or rejected.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from contracts.audit.v1 import AuditEvent
from contracts.error.v1 import FieldError
from contracts.model.v1 import Lineage, ModelManifest, TrainingJob, TrainingJobRequest
from contracts.training.v2 import FAMILIES, TrainingRequest, param_problems
from leaim.data.records import protected_groups, training_matrix
from leaim.domain.deadline import Deadline
from leaim.exceptions import (
    ConflictError,
    InvalidJobError,
    LeaimError,
    ModelVersionExistsError,
    NotFoundError,
    WorkerError,
)
from leaim.lifecycle import gates

if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts.manifest.v1 import UseCaseManifest
    from contracts.model.v1 import RetrainingRequest, SignedManifest, Trigger
    from contracts.training.v2 import TrainingResult
    from leaim.data.datasets import DatasetCatalog
    from leaim.data.ports import ObjectStore
    from leaim.data.snapshots import SnapshotService
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.ports import AuditLog, Telemetry
    from leaim.lifecycle.ports import JobQueue, ModelRegistry, TrainingJobStore, TrainingWorker
    from leaim.lifecycle.signing import ManifestSigner

TRAINING_SOURCE = "worker:leaim-training"
ARTIFACT_PREFIX = "artifacts/sha256"
MODEL_PREFIX = "models"
# Kept back from the function's remaining time for gating, signing and registering after the worker answers.
FINISH_RESERVE_MS = 20_000.0
PUBLISH_TIMEOUT_S = 10.0
# Default versions skipped because queued or running jobs hold them, at most.
AUTO_VERSION_ATTEMPTS = 20
# A running job whose last progress is older than the training function's timeout (900 s) was interrupted.
STALE_AFTER_S = 960.0


def artifact_key(digest: str) -> str:
    """Object key of an artifact in the artifacts bucket."""
    return f"{ARTIFACT_PREFIX}/{digest}.onnx"


def manifest_key(model_name: str, version: str) -> str:
    """Object key of a version's signed manifest in the artifacts bucket."""
    return f"{MODEL_PREFIX}/{model_name}/{version}/manifest.json"


class TrainingJobs:
    """Accepts, runs and reports training jobs. Every dependency is a port or a lower-layer service."""

    def __init__(
        self,
        *,
        manifests: ManifestCatalog,
        datasets: DatasetCatalog,
        snapshots: SnapshotService,
        jobs: TrainingJobStore,
        queue: JobQueue,
        registry: ModelRegistry,
        artifacts: ObjectStore,
        workers: Callable[[], TrainingWorker],
        signer: Callable[[], ManifestSigner],
        audit_log: AuditLog,
        telemetry: Telemetry,
        clock: Clock,
        code_version: str,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self._manifests = manifests
        self._datasets = datasets
        self._snapshots = snapshots
        self._jobs = jobs
        self._queue = queue
        self._registry = registry
        self._artifacts = artifacts
        self._workers = workers
        self._signer = signer
        self._audit_log = audit_log
        self._telemetry = telemetry
        self._clock = clock
        self._code_version = code_version
        self._stale_after_s = stale_after_s

    def model_names(self) -> list[str]:
        """Every model a use-case manifest names, sorted."""
        return sorted({self._manifests.get(name).model.name for name in self._manifests.names()})

    def scheduled_use_cases(self) -> list[str]:
        """Use cases whose manifests ask for retraining on the schedule."""
        return [name for name in self._manifests.names() if self._manifests.get(name).model.scheduled_retraining]

    def manifest_of_model(self, model_name: str) -> UseCaseManifest:
        """The use case whose manifest names `model_name`; NotFoundError when none does."""
        for name in self._manifests.names():
            manifest = self._manifests.get(name)
            if manifest.model.name == model_name:
                return manifest
        raise NotFoundError(f"no use case manifest names model {model_name!r}")

    def dataset_of(self, manifest: UseCaseManifest) -> str:
        """The dataset that feeds the use case; NotFoundError when no dataset contract does."""
        for dataset in self._datasets.names():
            if self._datasets.latest(dataset).use_case == manifest.name:
                return dataset
        raise NotFoundError(f"no dataset contract feeds use case {manifest.name!r}")

    def get(self, job_id: str) -> TrainingJob:
        """A job; NotFoundError when there is none."""
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no training job {job_id!r}")
        return job

    def submit(
        self,
        model_name: str,
        request: TrainingJobRequest,
        *,
        principal: str,
        trigger: Trigger = "person",
        reason: str | None = None,
    ) -> TrainingJob:
        """Check a job request, store the job as queued and put it on the training queue.

        Raises NotFoundError (unknown model or snapshot), InvalidJobError (family or parameters), and
        ModelVersionExistsError (the version is already published: versions never change), and ConflictError
        (a job not failed already trains the version asked for; a default version skips to the next free one).
        """
        manifest = self.manifest_of_model(model_name)
        dataset = self.dataset_of(manifest)
        self._snapshots.get(dataset, request.snapshot_id)
        family = request.family or manifest.model.family
        if request.params is not None:
            params = dict(request.params)
        elif family == manifest.model.family:
            params = dict(manifest.model.params)
        else:
            params = {}
        problems = []
        if family not in FAMILIES:
            problems.append(
                FieldError(
                    field="family",
                    message=f"unknown model family {family!r}; known: {list(FAMILIES)}",
                    type="value_error",
                )
            )
        else:
            problems += [
                FieldError(field="params", message=problem, type="value_error")
                for problem in param_problems(family, params)
            ]
        if problems:
            raise InvalidJobError(problems)
        now = self._now()
        job = TrainingJob(
            job_id=uuid.uuid4().hex,
            model_name=model_name,
            use_case=manifest.name,
            version=request.version or self._registry.next_version(model_name),
            snapshot_id=request.snapshot_id,
            family=family,
            params=params,
            seed=request.seed,
            deploy=request.deploy,
            trigger=trigger,
            reason=reason,
            requested_by=principal,
            state="queued",
            stage="queued",
            progress=0.0,
            created_at=now,
            updated_at=now,
        )
        for _ in range(AUTO_VERSION_ATTEMPTS):
            existing = self._registry.get(model_name, job.version)
            if existing is not None:
                raise ModelVersionExistsError(model_name, job.version, existing.manifest.artifact_digest)
            try:
                self._jobs.create(job)
                break
            except ConflictError:
                # Another job holds the version; an explicit version is the caller's to change, a default is ours.
                number = job.version.removeprefix("v")
                if request.version is not None or not number.isdigit():
                    raise
                job = job.model_copy(update={"version": f"v{int(number) + 1}"})
        else:
            raise ConflictError(f"no free version of {model_name} after {AUTO_VERSION_ATTEMPTS} tries: retry")
        try:
            self._queue.send(job.job_id)
        except Exception as error:
            self._jobs.update(job.job_id, state="failed", stage="queueing", message=f"could not be queued: {error}")
            raise
        return job

    def retrain(self, use_case: str, request: RetrainingRequest, *, principal: str) -> TrainingJob:
        """Cut a fresh snapshot of the use case's dataset (from `request.since` on) and queue a job on it.

        The successor keeps the champion's family and parameters, as its signed manifest in the registry records
        them: a champion trained as another family than the manifest's is retrained as that family. A use case
        without a champion is trained as its manifest says. The hook for a person, a schedule or the drift monitor:
        no code changes, the whole flow runs.
        """
        manifest = self._manifests.get(use_case)
        dataset = self.dataset_of(manifest)
        champion = self._champion(manifest.name)
        snapshot = self._snapshots.cut(dataset, principal=principal, since=request.since)
        job_request = TrainingJobRequest(
            snapshot_id=snapshot.snapshot_id,
            deploy=request.deploy,
            family=None if champion is None else champion.family,
            params=None if champion is None else dict(champion.params),
        )
        return self.submit(
            manifest.model.name, job_request, principal=principal, trigger=request.trigger, reason=request.reason
        )

    def _champion(self, use_case: str) -> ModelManifest | None:
        """The manifest of the version serving the use case's traffic, or None when it has no champion."""
        policy = self._registry.traffic(use_case)
        if policy is None or policy.champion is None:
            return None
        signed = self._registry.get(policy.model_name, policy.champion)
        if signed is None:
            raise NotFoundError(f"champion {policy.model_name} {policy.champion} of {use_case} is not in the registry")
        return signed.manifest

    def run(self, job_id: str, *, remaining_ms: float | None, principal: str) -> TrainingJob:
        """Run a queued job to its end; a job that is not queued (a redelivery) is returned as it is.

        The job ends succeeded (approved version), rejected (a gate failed: the version is still
        published, with its reasons) or failed (no version: the message says why). A redelivered job
        still `running` after `stale_after_s` was interrupted (the function timed out or died): it is
        marked failed so that it can be sent again.
        """
        job = self._jobs.claim(job_id)
        if job is None:
            current = self.get(job_id)
            idle_s = self._clock.now() - current.updated_at.timestamp()
            if current.state == "running" and idle_s > self._stale_after_s:
                return self._jobs.update(
                    job_id,
                    state="failed",
                    stage="interrupted",
                    message=f"interrupted: no progress for {idle_s:.0f} s, the function running it stopped",
                )
            return current
        step = self._stepper(job.job_id)
        try:
            return self._run(job, step, remaining_ms, principal)
        except Exception as error:
            # Whatever stopped it, a claimed job must not stay `running`: a redelivery would never run it again.
            return self._jobs.update(
                job.job_id, state="failed", stage="failed", message=f"{type(error).__name__}: {error}"
            )

    def _run(
        self, job: TrainingJob, step: Callable[[str, float], None], remaining_ms: float | None, principal: str
    ) -> TrainingJob:
        manifest = self._manifests.get(job.use_case)
        dataset = self.dataset_of(manifest)
        # The key is read before training, so a missing key fails the job before the GPU time is spent.
        signer = self._signer()
        step("reading snapshot", 0.05)
        snapshot, table = self._snapshots.read(dataset, job.snapshot_id)
        rows, labels = training_matrix(manifest, snapshot, table)
        groups = protected_groups(manifest, snapshot, table)
        step("training", 0.2)
        budget_ms = 15 * 60 * 1000.0 if remaining_ms is None else remaining_ms - FINISH_RESERVE_MS
        if budget_ms <= 0:
            raise WorkerError("no time left in the invocation to train")
        deadline = Deadline.within(budget_ms, now=self._clock.now(), monotonic=self._clock.monotonic)
        request = TrainingRequest(
            job_id=job.job_id,
            model_name=job.model_name,
            model_version=job.version,
            family=job.family,
            params=job.params,
            seed=job.seed,
            feature_names=manifest.feature_names,
            rows=rows,
            labels=labels,
            groups=groups,
            threshold=manifest.decision.threshold,
            trace_context=self._telemetry.carrier(),
            deadline_unix_ms=deadline.expires_unix_ms,
        )
        lineage = {"snapshot_id": snapshot.snapshot_id, "snapshot_sha256": snapshot.content_sha256}
        result = self._train(manifest, request, deadline.remaining_s(), lineage, principal)
        step("evaluating gates", 0.7)
        results = gates.evaluate(manifest, result.metrics)
        failed = gates.reasons(results)
        step("storing artifact", 0.8)
        artifact = base64.b64decode(result.artifact_base64, validate=True)
        actual = hashlib.sha256(artifact).hexdigest()
        if actual != result.artifact_digest:
            raise WorkerError(f"artifact bytes hash to {actual}, the worker reported {result.artifact_digest}")
        key = artifact_key(result.artifact_digest)
        self._artifacts.put(key, artifact, content_type="application/octet-stream", if_absent=True)
        step("signing and registering", 0.9)
        status: Literal["approved", "rejected"] = "rejected" if failed else "approved"
        signed = signer.sign(
            ModelManifest(
                model_name=job.model_name,
                model_version=job.version,
                use_case=manifest.name,
                family=result.family,
                artifact_digest=result.artifact_digest,
                artifact_bytes=result.artifact_bytes,
                artifact_key=key,
                feature_names=result.feature_names,
                params=result.params,
                seed=job.seed,
                threshold=manifest.decision.threshold,
                metrics=result.metrics,
                gates=results,
                status=status,
                reasons=failed,
                lineage=Lineage(
                    dataset=dataset,
                    snapshot_id=snapshot.snapshot_id,
                    snapshot_sha256=snapshot.content_sha256,
                    feature_version=snapshot.feature_version,
                    code_version=self._code_version,
                    training_job_id=job.job_id,
                    trigger=job.trigger,
                    requested_by=job.requested_by,
                ),
                baseline=result.baseline,
                created_at=self._now(),
            )
        )
        self._artifacts.put(
            manifest_key(job.model_name, job.version),
            signed.model_dump_json().encode(),
            content_type="application/json",
            if_absent=True,
        )
        if not failed:
            self._workers().publish_manifest(signed, PUBLISH_TIMEOUT_S)
        # Publishing is the commit point: everything the version needs is stored before it exists.
        self._registry.publish(signed)
        if failed:
            return self._jobs.update(
                job.job_id, state="rejected", stage="done", progress=1.0, reasons=failed, message="a gate failed"
            )
        try:
            message = self._deploy(job, manifest, signed)
        except LeaimError as error:
            message = f"approved; not deployed: {type(error).__name__}: {error}"
        return self._jobs.update(job.job_id, state="succeeded", stage="done", progress=1.0, message=message)

    def _deploy(self, job: TrainingJob, manifest: UseCaseManifest, signed: SignedManifest) -> str:
        if job.deploy == "none":
            return "approved; not deployed"
        actor = f"training-job:{job.job_id}"
        policy = self._registry.traffic(manifest.name)
        if policy is None or policy.champion is None:
            self._registry.set_champion(manifest.name, job.model_name, job.version, actor=actor, expected_revision=None)
            return "approved; champion (the use case had none)"
        self._registry.set_challenger(
            manifest.name,
            job.model_name,
            job.version,
            job.deploy,
            manifest.promotion.canary_percent,
            actor=actor,
            expected_revision=policy.revision,
        )
        return f"approved; challenger under {job.deploy}"

    def _train(
        self,
        manifest: UseCaseManifest,
        request: TrainingRequest,
        timeout_s: float,
        lineage: dict[str, str],
        principal: str,
    ) -> TrainingResult:
        started = self._clock.monotonic()
        with self._telemetry.span("worker.training", {"model": f"{request.model_name}@{request.model_version}"}):
            try:
                result = self._workers().train(request, timeout_s)
            except WorkerError as error:
                self._audit_training(
                    manifest, request, started, lineage, principal, error=f"{type(error).__name__}: {error}"
                )
                raise
        self._audit_training(manifest, request, started, lineage, principal, result=result)
        return result

    def _audit_training(
        self,
        manifest: UseCaseManifest,
        request: TrainingRequest,
        started: float,
        lineage: dict[str, str],
        principal: str,
        *,
        result: TrainingResult | None = None,
        error: str | None = None,
    ) -> None:
        """The audit event of the training worker call, written by the code that made it."""
        details: dict[str, object] = {
            **lineage,
            "family": request.family,
            "params": request.params,
            "seed": request.seed,
        }
        if result is not None:
            details["metrics"] = result.metrics.model_dump(mode="json")
            details["training_ms"] = result.training_ms
            details["evaluation_ms"] = result.evaluation_ms
        self._audit_log.append(
            AuditEvent(
                event_id=uuid.uuid4().hex,
                occurred_at=self._now(),
                source=TRAINING_SOURCE,
                action="worker.training",
                invocation_id=request.job_id,
                outcome="error" if error else "success",
                trace_id=self._telemetry.trace_id(),
                duration_ms=round((self._clock.monotonic() - started) * 1000.0, 3),
                principal=principal,
                use_case=manifest.name,
                model_name=request.model_name,
                model_version=request.model_version,
                artifact_digest=result.artifact_digest if result else None,
                worker=result.worker if result else TRAINING_SOURCE,
                batch_size=len(request.rows),
                error=error,
                details=details,
            )
        )

    def _stepper(self, job_id: str) -> Callable[[str, float], None]:
        def step(stage: str, progress: float) -> None:
            self._jobs.update(job_id, stage=stage, progress=progress)

        return step

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)
