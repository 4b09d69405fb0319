"""Training jobs end to end in one process: snapshot, real training worker code, gates, signature, registry."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from contracts.model.v1 import RetrainingRequest, TrainingJobRequest
from gpu_workers.inference.signatures import load_public_keys, verify_manifest
from gpu_workers.training.trainer import train
from leaim.adapters.sql import SqlModelRegistry, SqlTrainingJobStore
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import (
    ConflictError,
    InvalidJobError,
    ModelVersionExistsError,
    NotFoundError,
    UnreadableJobMessageError,
    WorkerTimeoutError,
)
from leaim.governance.audit.events import ScheduleGate
from leaim.lifecycle.consumer import TrainingConsumer
from leaim.lifecycle.schedules import run_scheduled_retraining
from leaim.lifecycle.signing import ManifestSigner
from leaim.lifecycle.training import TrainingJobs, artifact_key, manifest_key
from tests.support.fakes import MemoryAuditLog, StaticTelemetry
from tests.support.ingestion import START, IngestionWorld, incoming

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.manifest.v1 import UseCaseManifest
    from contracts.model.v1 import SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult

DATASET = "transactions"


class InProcessTrainer:
    """The training worker's own code, called directly instead of through a worker process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.published: list[SignedManifest] = []

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        return train(request, self.root, worker="in-process")

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        self.published.append(signed)


class MemoryQueue:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, job_id: str) -> None:
        self.sent.append(job_id)


class Lab:
    """Training jobs over a snapshot of generated transactions, a real registry and the real trainer."""

    def __init__(
        self,
        engine: Engine,
        root: Path,
        manifest: UseCaseManifest | None = None,
        *,
        worker: InProcessTrainer | None = None,
        artifacts: object | None = None,
    ) -> None:
        self.data = IngestionWorld()
        catalog = self.data.manifests
        if manifest is not None:
            catalog = ManifestCatalog({manifest.name: manifest})
        self.data.service.ingest(DATASET, incoming(self.data.records(4000, cards=400)), source="http", trace_id="t")
        self.snapshot = self.data.snapshots.cut(DATASET, principal="tests")
        self.registry = SqlModelRegistry(engine)
        self.worker = worker or InProcessTrainer(root)
        self.queue = MemoryQueue()
        self.signer = ManifestSigner.generate()
        self.audit = MemoryAuditLog()
        self.jobs = TrainingJobs(
            manifests=catalog,
            datasets=self.data.datasets,
            snapshots=self.data.snapshots,
            jobs=SqlTrainingJobStore(engine),
            queue=self.queue,
            registry=self.registry,
            artifacts=artifacts or self.data.objects,  # type: ignore[arg-type]
            workers=lambda: self.worker,
            signer=lambda: self.signer,
            audit_log=self.audit,
            telemetry=StaticTelemetry(),
            clock=self.data.clock,
            code_version="test-1",
        )

    def run(self, **request: object):
        job = self.jobs.submit(
            "card-fraud", TrainingJobRequest(snapshot_id=self.snapshot.snapshot_id, **request), principal="ml"
        )
        assert self.queue.sent[-1] == job.job_id and job.state == "queued"
        return self.jobs.run(job.job_id, remaining_ms=600_000, principal="queue:training")


@pytest.fixture
def lab(engine: Engine, tmp_path: Path) -> Lab:
    return Lab(engine, tmp_path)


def test_an_approved_version_is_stored_signed_registered_published_and_deployed(lab: Lab) -> None:
    job = lab.run(deploy="shadow")
    assert (job.state, job.stage, job.progress, job.version) == ("succeeded", "done", 1.0, "v1"), job.message
    signed = lab.registry.get("card-fraud", "v1")
    assert signed is not None
    assert verify_manifest(signed, load_public_keys([lab.signer.public_key_b64])) == signed.manifest
    manifest = signed.manifest
    assert manifest.status == "approved" and all(gate.passed for gate in manifest.gates)
    assert {gate.gate for gate in manifest.gates} >= {"auc", "onnx_parity", "disparate_impact:cardholder_age_band"}
    assert manifest.lineage.snapshot_sha256 == lab.snapshot.content_sha256
    assert (manifest.lineage.code_version, manifest.lineage.training_job_id) == ("test-1", job.job_id)
    assert manifest.params == {"C": 1.0, "max_iter": 200, "tol": 1e-4}
    assert set(manifest.baseline.features) == set(manifest.feature_names)
    artifact = lab.data.objects.get(artifact_key(manifest.artifact_digest))
    assert artifact is not None and hashlib.sha256(artifact).hexdigest() == manifest.artifact_digest
    stored = lab.data.objects.get(manifest_key("card-fraud", "v1"))
    assert stored is not None and type(signed).model_validate_json(stored) == signed
    assert lab.worker.published == [signed]
    policy = lab.registry.traffic("card_fraud")
    assert policy is not None and policy.champion == "v1" and policy.updated_by == f"training-job:{job.job_id}"
    training = [e for e in lab.audit.events if e.action == "worker.training"]
    assert len(training) == 1 and training[0].outcome == "success"
    assert training[0].details["snapshot_sha256"] == lab.snapshot.content_sha256


def test_the_second_approved_version_becomes_the_challenger_and_families_are_chosen_per_job(lab: Lab) -> None:
    lab.run(deploy="shadow")
    job = lab.run(deploy="canary", family="gradient_boosted_trees", params={"n_estimators": 40, "max_depth": 3})
    assert job.state == "succeeded", job.message
    signed = lab.registry.get("card-fraud", "v2")
    assert signed is not None and signed.manifest.family == "gradient_boosted_trees"
    assert signed.manifest.params["n_estimators"] == 40 and signed.manifest.params["learning_rate"] == 0.1
    policy = lab.registry.traffic("card_fraud")
    assert policy is not None and (policy.champion, policy.challenger, policy.policy) == ("v1", "v2", "canary")


def test_training_is_reproducible_from_the_same_snapshot_and_parameters(lab: Lab) -> None:
    first, second = lab.run(), lab.run()
    a, b = (lab.registry.get("card-fraud", job.version) for job in (first, second))
    assert a is not None and b is not None
    quality = ("auc", "precision", "recall", "brier", "calibration_error", "parity_max_abs_diff", "group_rates")
    assert a.manifest.metrics.model_dump(include=set(quality)) == b.manifest.metrics.model_dump(include=set(quality))
    assert a.manifest.baseline == b.manifest.baseline
    # The version is written into the artifact's metadata, so only the digests of equal versions match.
    assert a.manifest.artifact_digest != b.manifest.artifact_digest


def test_a_version_failing_a_gate_is_registered_rejected_with_its_reasons(engine: Engine, tmp_path: Path) -> None:
    base = ManifestCatalog.from_directory(None).get("card_fraud")
    strict = base.model_copy(
        update={"gates": base.gates.model_copy(update={"min_auc": 0.999, "max_parity_diff": 1e-12})}
    )
    lab = Lab(engine, tmp_path, strict)
    job = lab.run(deploy="shadow")
    assert job.state == "rejected" and len(job.reasons) == 2
    assert any(reason.startswith("auc ") and "below the minimum 0.999" in reason for reason in job.reasons)
    assert any(reason.startswith("onnx_parity ") for reason in job.reasons)
    signed = lab.registry.get("card-fraud", job.version)
    assert signed is not None and signed.manifest.status == "rejected" and signed.manifest.reasons == job.reasons
    assert lab.worker.published == [] and lab.registry.traffic("card_fraud") is None


def test_bad_job_requests_are_refused_naming_the_problem(lab: Lab) -> None:
    snapshot = lab.snapshot.snapshot_id
    with pytest.raises(NotFoundError, match="no-such-snapshot"):
        lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id="no-such-snapshot"), principal="ml")
    with pytest.raises(NotFoundError, match="no use case manifest names model 'nope'"):
        lab.jobs.submit("nope", TrainingJobRequest(snapshot_id=snapshot), principal="ml")
    with pytest.raises(InvalidJobError, match="unknown model family 'random_forest'"):
        lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=snapshot, family="random_forest"), principal="ml")
    with pytest.raises(InvalidJobError, match=r"param C must be in \(0.0, 10000.0\], got -1"):
        lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=snapshot, params={"C": -1}), principal="ml")
    with pytest.raises(InvalidJobError, match="unsupported gradient_boosted_trees param 'C'"):
        lab.jobs.submit(
            "card-fraud",
            TrainingJobRequest(snapshot_id=snapshot, family="gradient_boosted_trees", params={"C": 1.0}),
            principal="ml",
        )
    lab.run(version="2026-11-a")
    with pytest.raises(ModelVersionExistsError, match="immutable"):
        lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=snapshot, version="2026-11-a"), principal="ml")
    assert lab.queue.sent[:-1] == []


def test_a_redelivered_job_message_does_not_train_twice(lab: Lab) -> None:
    job = lab.run()
    again = lab.jobs.run(job.job_id, remaining_ms=600_000, principal="queue:training")
    assert again == lab.jobs.get(job.job_id)
    assert len([e for e in lab.audit.events if e.action == "worker.training"]) == 1


def test_a_snapshot_tampered_after_it_was_cut_fails_the_job(lab: Lab) -> None:
    key = lab.snapshot.data_key
    blob = lab.data.objects.get(key)
    assert blob is not None
    lab.data.objects.put(key, blob[:-1] + bytes([blob[-1] ^ 1]), content_type="application/octet-stream")
    job = lab.run()
    assert job.state == "failed" and "SnapshotIntegrityError" in (job.message or "")
    assert lab.registry.get("card-fraud", job.version) is None


def test_a_retraining_request_cuts_a_fresh_snapshot_and_queues_a_job_on_it(lab: Lab) -> None:
    lab.data.clock.wall += 3600
    job = lab.jobs.retrain(
        "card_fraud", RetrainingRequest(reason="drift on amount", trigger="drift"), principal="drift-monitor"
    )
    assert job.snapshot_id != lab.snapshot.snapshot_id and lab.queue.sent == [job.job_id]
    assert (job.trigger, job.reason, job.deploy, job.requested_by) == (
        "drift",
        "drift on amount",
        "shadow",
        "drift-monitor",
    )
    finished = lab.jobs.run(job.job_id, remaining_ms=600_000, principal="queue:training")
    assert finished.state == "succeeded", finished.message
    signed = lab.registry.get("card-fraud", finished.version)
    assert signed is not None and signed.manifest.lineage.trigger == "drift"


def test_a_champion_of_another_family_is_retrained_on_drift_and_on_schedule_as_that_family_with_its_params(
    lab: Lab,
) -> None:
    first = lab.run(deploy="shadow", family="gradient_boosted_trees", params={"n_estimators": 40, "max_depth": 2})
    assert first.state == "succeeded", first.message
    champion = lab.registry.get("card-fraud", first.version)
    assert champion is not None and lab.data.manifests.get("card_fraud").model.family == "logistic_regression"
    lab.data.clock.wall += 3600
    drifted = lab.jobs.retrain(
        "card_fraud", RetrainingRequest(reason="drift on amount", trigger="drift"), principal="monitor:drift"
    )
    assert (drifted.family, drifted.params) == ("gradient_boosted_trees", champion.manifest.params)
    assert drifted.params["max_depth"] == 2 and drifted.params["n_estimators"] == 40
    finished = lab.jobs.run(drifted.job_id, remaining_ms=600_000, principal="queue:training")
    assert finished.state == "succeeded", finished.message
    successor = lab.registry.get("card-fraud", finished.version)
    assert successor is not None and successor.manifest.family == "gradient_boosted_trees"
    assert successor.manifest.params == champion.manifest.params

    lab.data.clock.wall += 3600
    gate = ScheduleGate(
        audit_log=lab.audit, telemetry=StaticTelemetry(), clock=lab.data.clock, source="RetrainingScheduleFunction"
    )
    (scheduled,) = run_scheduled_retraining(lab.jobs, gate, "run-1")
    assert (scheduled.family, scheduled.params) == ("gradient_boosted_trees", champion.manifest.params)


def test_a_use_case_without_a_champion_is_retrained_as_its_manifest_says(lab: Lab) -> None:
    lab.data.clock.wall += 3600
    job = lab.jobs.retrain("card_fraud", RetrainingRequest(reason="first model", trigger="person"), principal="ml")
    manifest = lab.data.manifests.get("card_fraud").model
    assert (job.family, job.params) == (manifest.family, manifest.params)


def test_a_retraining_request_since_a_time_snapshots_only_the_records_from_then_on(lab: Lab) -> None:
    lab.data.clock.wall += 3600
    since = START + timedelta(minutes=3000)
    job = lab.jobs.retrain(
        "card_fraud", RetrainingRequest(reason="drift", trigger="drift", since=since), principal="drift-monitor"
    )
    snapshot = lab.data.snapshots.get(DATASET, job.snapshot_id)
    everything = lab.data.snapshots.get(DATASET, lab.snapshot.snapshot_id)
    assert snapshot.since == since and snapshot.event_time_min >= since
    # Records are a minute apart: the last thousand of the four thousand.
    assert snapshot.row_count == 1000 and everything.row_count == 4000


def test_a_worker_failure_or_an_unexpected_error_ends_the_job_failed_not_running(
    engine: Engine, tmp_path: Path
) -> None:
    class TimingOut(InProcessTrainer):
        def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
            raise WorkerTimeoutError(f"leaim-training.train {request.job_id} did not answer within {timeout_s:.0f} s")

    lab = Lab(engine, tmp_path, worker=TimingOut(tmp_path))
    job = lab.run()
    assert job.state == "failed" and "WorkerTimeoutError" in (job.message or "")
    failed = [e for e in lab.audit.events if e.action == "worker.training"]
    assert len(failed) == 1 and failed[0].outcome == "error"
    assert lab.registry.get("card-fraud", job.version) is None

    broken = Lab(engine, tmp_path, artifacts=BrokenStore()).run()
    assert broken.state == "failed" and "RuntimeError: the artifacts bucket is unreachable" in (broken.message or "")


class BrokenStore:
    def put(self, key: str, body: bytes, *, content_type: str, if_absent: bool = False) -> bool:
        raise RuntimeError("the artifacts bucket is unreachable")


def test_the_retraining_schedule_retrains_the_use_cases_that_ask_for_it_in_one_audited_run(lab: Lab) -> None:
    lab.data.clock.wall += 3600
    queued = run_scheduled_retraining(
        lab.jobs,
        ScheduleGate(
            audit_log=lab.audit, telemetry=StaticTelemetry(), clock=lab.data.clock, source="RetrainingScheduleFunction"
        ),
        "run-1",
    )
    assert [(job.use_case, job.trigger, job.deploy) for job in queued] == [("card_fraud", "schedule", "shadow")]
    assert lab.queue.sent == [queued[0].job_id] and queued[0].snapshot_id != lab.snapshot.snapshot_id
    runs = [e for e in lab.audit.events if e.source == "RetrainingScheduleFunction"]
    assert len(runs) == 1 and runs[0].outcome == "success" and runs[0].principal == "schedule:retraining"
    assert runs[0].details["queued"]["card_fraud"]["job_id"] == queued[0].job_id

    # The same instant again cannot cut a new snapshot: the run says why and queues nothing.
    again = run_scheduled_retraining(
        lab.jobs,
        ScheduleGate(
            audit_log=lab.audit, telemetry=StaticTelemetry(), clock=lab.data.clock, source="RetrainingScheduleFunction"
        ),
        "run-2",
    )
    assert again == []
    second = [e for e in lab.audit.events if e.invocation_id == "run-2"]
    assert len(second) == 1 and second[0].outcome == "error"
    assert "SnapshotExistsError" in second[0].details["skipped"]["card_fraud"]


def test_a_job_left_running_by_a_stopped_function_is_failed_when_its_message_comes_back(
    engine: Engine, lab: Lab
) -> None:
    job = lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=lab.snapshot.snapshot_id), principal="ml")
    claimed = SqlTrainingJobStore(engine).claim(job.job_id)
    assert claimed is not None
    # The job store stamps real time; the service's clock is moved relative to it.
    lab.data.clock.wall = claimed.updated_at.timestamp() + 10
    consumer = TrainingConsumer(
        jobs=lab.jobs, audit_log=lab.audit, telemetry=StaticTelemetry(), clock=lab.data.clock, source="TrainingQueue"
    )
    body = json.dumps({"job_id": job.job_id})
    held = consumer.handle(body, message_id="m-1", receive_count=2, invocation_id="i-1", remaining_ms=600_000)
    assert held.state == "running"
    assert [e.outcome for e in lab.audit.events if e.invocation_id == "i-1:m-1:2"] == ["duplicate"]

    lab.data.clock.wall = held.updated_at.timestamp() + 961
    failed = consumer.handle(body, message_id="m-1", receive_count=3, invocation_id="i-2", remaining_ms=600_000)
    assert (failed.state, failed.stage) == ("failed", "interrupted") and "no progress" in (failed.message or "")
    assert [e.outcome for e in lab.audit.events if e.invocation_id == "i-2:m-1:3"] == ["error"]

    with pytest.raises(UnreadableJobMessageError):
        consumer.handle("{}", message_id="m-2", receive_count=1, invocation_id="i-3", remaining_ms=600_000)
    assert [e.outcome for e in lab.audit.events if e.invocation_id == "i-3:m-2:1"] == ["rejected"]


def test_jobs_queued_together_get_their_own_versions_and_an_explicit_one_is_held(lab: Lab) -> None:
    snapshot = lab.snapshot.snapshot_id
    first = lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=snapshot), principal="ml")
    second = lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=snapshot), principal="ml")
    assert (first.version, second.version) == ("v1", "v2")
    with pytest.raises(ConflictError, match="version v2 of card-fraud is already being trained"):
        lab.jobs.submit("card-fraud", TrainingJobRequest(snapshot_id=snapshot, version="v2"), principal="ml")
    assert lab.queue.sent == [first.job_id, second.job_id]
