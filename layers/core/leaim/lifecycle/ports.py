"""Ports of the lifecycle layer; adapters implement them and `leaim.bootstrap` wires them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from leaim.domain.policies import PolicyReader

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from contracts.model.v1 import (
        ArchivedDocument,
        JobState,
        ModelSummary,
        SignedManifest,
        StopState,
        TrafficPolicy,
        TrainingJob,
        VersionStats,
    )
    from contracts.policy.v1 import PolicyHead, PolicyKind, PolicyVersion
    from contracts.training.v2 import TrainingRequest, TrainingResult


class TrainingWorker(Protocol):
    """The training GPU worker, and where the inference workers find signed manifests.

    The serving layer's worker client implements it: the lifecycle reaches workers through nothing else.
    """

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train and export one model version; raise WorkerTimeoutError after `timeout_s`, WorkerError on any
        failure."""
        ...

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        """Put a signed manifest beside its artifact where the inference workers load from."""
        ...


class ModelLoader(Protocol):
    """The running inference workers, asked to load a version before it takes traffic."""

    def load(self, signed: SignedManifest, timeout_s: float) -> None:
        """Have one worker verify and load the version's artifact; WorkerError (or WorkerTimeoutError) when it
        cannot within `timeout_s`."""
        ...


class ModelRegistry(Protocol):
    """Immutable, signed model versions and the traffic policy of each use case."""

    def publish(self, signed: SignedManifest) -> SignedManifest:
        """Record a new version; any existing (name, version) raises ModelVersionExistsError."""
        ...

    def get(self, name: str, version: str) -> SignedManifest | None:
        """A published version, or None."""
        ...

    def versions(self, name: str) -> Sequence[SignedManifest]:
        """Every published version of a model, oldest first."""
        ...

    def models(self) -> Sequence[ModelSummary]:
        """One summary per model with a published version: counts, latest version, champion and challenger."""
        ...

    def next_version(self, name: str) -> str:
        """`v<n+1>` after the highest `v<n>` published for the model."""
        ...

    def traffic(self, use_case: str) -> TrafficPolicy | None:
        """The use case's traffic policy, or None before any champion."""
        ...

    def set_champion(
        self, use_case: str, model_name: str, version: str, *, actor: str, expected_revision: int | None
    ) -> TrafficPolicy:
        """Make an approved version the champion; the former champion is kept for a rollback."""
        ...

    def set_challenger(
        self,
        use_case: str,
        model_name: str,
        version: str,
        policy: str,
        canary_percent: float,
        *,
        actor: str,
        expected_revision: int | None,
    ) -> TrafficPolicy:
        """Make an approved version the challenger under `policy` (shadow or canary)."""
        ...

    def clear_challenger(self, use_case: str, *, actor: str, expected_revision: int | None) -> TrafficPolicy:
        """Take the challenger out of traffic."""
        ...

    def restore_previous(self, use_case: str, *, actor: str, expected_revision: int | None) -> TrafficPolicy:
        """Make the previous champion the champion again."""
        ...


class TrainingJobStore(Protocol):
    """Training jobs and their progress."""

    def create(self, job: TrainingJob) -> TrainingJob:
        """Store a new job."""
        ...

    def get(self, job_id: str) -> TrainingJob | None:
        """A job, or None."""
        ...

    def claim(self, job_id: str) -> TrainingJob | None:
        """Move a queued job to running and return it; None when it was not queued (it ran already)."""
        ...

    def update(
        self,
        job_id: str,
        *,
        state: JobState | None = None,
        stage: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        reasons: list[str] | None = None,
        version: str | None = None,
    ) -> TrainingJob:
        """Record a job's progress."""
        ...


class JobQueue(Protocol):
    """The training queue."""

    def send(self, job_id: str) -> None:
        """Queue a job for the training function."""
        ...


class VersionStatsSource(Protocol):
    """What each version of a model did in a use case's live traffic."""

    def version_stats(self, use_case: str, model_name: str, since: datetime) -> dict[str, VersionStats]:
        """Per version: worker calls, errors, fallbacks and p95 latency since `since`."""
        ...


class PolicyStore(PolicyReader, Protocol):
    """Where the policy registry keeps its versions and heads."""

    def versions(self, kind: PolicyKind, subject: str) -> Sequence[PolicyVersion]:
        """Every version of one policy, oldest first."""
        ...

    def register(self, version: PolicyVersion, head: PolicyHead, *, expected_revision: int) -> None:
        """Store a new version and its head together, if the head is still at `expected_revision`."""
        ...

    def approve(
        self, kind: PolicyKind, subject: str, version: int, *, approved_by: str, approved_at: datetime, note: str
    ) -> None:
        """Record a version's approval, once; a ConflictError when it is approved already."""
        ...

    def put_head(self, head: PolicyHead, *, expected_revision: int) -> None:
        """Store a changed head if the stored one is still at `expected_revision`; RevisionConflictError if not."""
        ...


class ShadowOutcomeSource(Protocol):
    """What the decisions made while a policy version ran in shadow got, and would have got."""

    def shadow_outcomes(
        self, use_case: str, version: int, since: datetime, until: datetime
    ) -> list[tuple[int | None, str, str]]:
        """Per decision compared: the active version that decided, its outcome, and the shadow version's."""
        ...


class StopSwitch(Protocol):
    """Each use case's stop switch (EU AI Act Art. 14): while it is set, no model decides for the use case."""

    def stop_state(self, use_case: str) -> StopState | None:
        """The switch as last set, or None if the use case was never stopped; a change is seen on the next read."""
        ...

    def set_stop(self, state: StopState) -> None:
        """Set the use case's switch to `state`."""
        ...


class DocumentStore(Protocol):
    """Where the documents generated of a model version are archived beside it: their bytes and their signed
    records, each written once under a COMPLIANCE retention that nobody can shorten or lift."""

    def location(self, key: str) -> str:
        """Where `key` is, as a URL (s3://bucket/key)."""
        ...

    def records(self, prefix: str) -> Sequence[ArchivedDocument]:
        """Every record stored under `prefix`, in key order."""
        ...

    def put_content(self, key: str, body: bytes, *, content_type: str, retain_until: datetime) -> None:
        """Store a document's bytes at `key`, locked until `retain_until`; bytes already there are kept."""
        ...

    def put_record(self, key: str, record: ArchivedDocument, *, retain_until: datetime) -> bool:
        """Store a record at `key`, locked until `retain_until`; False, writing nothing, when `key` is taken."""
        ...

    def content(self, key: str) -> bytes | None:
        """The bytes at `key`, or None."""
        ...
