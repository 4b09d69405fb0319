"""Promotion: the controller's verdicts, manual and automatic changes on a real registry, and the verification
of a version's stored artifact and signed manifest before it takes traffic."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlmodel import Session, col, select

from contracts.audit.v1 import AuditEvent
from contracts.manifest.v1 import Promotion
from contracts.model.v1 import Rollback, TrafficChange, VersionStats
from leaim.adapters.sql import SqlAuditLog, SqlModelRegistry, SqlVersionStats
from leaim.adapters.sql.tables import ModelVersionRow
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import (
    NotFoundError,
    RevisionConflictError,
    TrafficChangeError,
    VersionRejectedError,
    VersionUnverifiedError,
    WorkerError,
)
from leaim.governance.audit.events import ScheduleGate
from leaim.lifecycle.promotion import CONTROLLER, PromotionController, PromotionService, VersionVerifier, judge
from leaim.lifecycle.schedules import run_controller
from leaim.lifecycle.signing import ManifestSigner
from leaim.lifecycle.training import artifact_key, manifest_key
from tests.support.factories import model_manifest
from tests.support.fakes import MemoryAuditLog, StaticTelemetry
from tests.support.ingestion import MemoryObjectStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from contracts.model.v1 import SignedManifest
    from leaim.data.ports import ObjectStore
    from leaim.lifecycle.ports import ModelLoader, ModelRegistry

SETTINGS = Promotion(
    min_requests=20, max_error_rate_increase=0.05, max_fallback_rate_increase=0.05, max_latency_ratio=1.5
)
SIGNER = ManifestSigner.generate()


def stats(version: str, requests: int, errors: int = 0, fallbacks: int = 0, p95: float | None = 10.0) -> VersionStats:
    return VersionStats(
        version=version,
        requests=requests,
        errors=errors,
        fallbacks=fallbacks,
        error_rate=errors / requests if requests else 0.0,
        fallback_rate=fallbacks / requests if requests else 0.0,
        latency_p95_ms=p95,
    )


def test_a_challenger_within_every_limit_advances_from_shadow_and_is_promoted_from_canary() -> None:
    champion, challenger = stats("v1", 200, errors=2), stats("v2", 40, errors=1, p95=12.0)
    assert judge(SETTINGS, "shadow", champion, challenger).action == "advance"
    assert judge(SETTINGS, "canary", champion, challenger).action == "promote"


def test_the_controller_waits_for_enough_requests() -> None:
    verdict = judge(SETTINGS, "shadow", stats("v1", 200), stats("v2", 5))
    assert verdict.action == "wait" and "5 of 20" in verdict.reasons[0]
    assert judge(SETTINGS, "shadow", stats("v1", 200), None).action == "wait"


@pytest.mark.parametrize(
    ("challenger", "words"),
    [
        (stats("v2", 40, errors=8), "error rate 0.200 exceeds"),
        (stats("v2", 40, fallbacks=8), "fallback rate 0.200 exceeds"),
        (stats("v2", 40, p95=30.0), "3.00x the champion's"),
    ],
)
def test_a_worse_challenger_is_rolled_back_with_the_reason(challenger: VersionStats, words: str) -> None:
    verdict = judge(SETTINGS, "canary", stats("v1", 200), challenger)
    assert verdict.action == "rollback"
    assert any(words in reason for reason in verdict.reasons), verdict.reasons


def test_a_challenger_slower_by_the_ratio_but_only_by_milliseconds_is_not_a_latency_regression() -> None:
    champion = stats("v1", 200, p95=19.5)

    assert judge(SETTINGS, "shadow", champion, stats("v2", 40, p95=29.5)).action == "advance"
    slower = judge(SETTINGS, "shadow", champion, stats("v2", 40, p95=30.0))
    assert slower.action == "rollback"
    assert slower.reasons == [
        "p95 latency 30.0 ms is 1.54x the champion's 19.5 ms (limit 1.50x), 10.5 ms slower (limit 10.0 ms)"
    ]
    # Within the ratio, however many milliseconds slower.
    assert judge(SETTINGS, "shadow", stats("v1", 200, p95=100.0), stats("v2", 40, p95=140.0)).action == "advance"


def test_a_hopeless_challenger_is_rolled_back_before_the_window_fills() -> None:
    assert judge(SETTINGS, "shadow", stats("v1", 200), stats("v2", 5, errors=5)).action == "rollback"
    # Fallbacks without worker calls (its circuit is open) count as requests it handled.
    assert judge(SETTINGS, "canary", stats("v1", 200), stats("v2", 0, fallbacks=6)).action == "rollback"
    assert judge(SETTINGS, "shadow", stats("v1", 200), stats("v2", 5, errors=1)).action == "wait"


def artifact_of(version: str) -> bytes:
    """Stand-in bytes of a version's artifact."""
    return f"onnx model card-fraud:{version};".encode() * 40


def release(
    registry: ModelRegistry,
    objects: ObjectStore,
    version: str,
    signer: ManifestSigner = SIGNER,
    **overrides: Any,
) -> SignedManifest:
    """Publish a signed version as a training job does: its artifact and signed manifest stored, then registered."""
    artifact = artifact_of(version)
    digest = hashlib.sha256(artifact).hexdigest()
    fields = {"artifact_digest": digest, "artifact_bytes": len(artifact), "artifact_key": artifact_key(digest)}
    signed = signer.sign(model_manifest(version, **{**fields, **overrides}))
    objects.put(artifact_key(digest), artifact, content_type="application/octet-stream", if_absent=True)
    objects.put(
        manifest_key(signed.manifest.model_name, version),
        signed.model_dump_json().encode(),
        content_type="application/json",
    )
    return registry.publish(signed)


@pytest.fixture
def objects() -> MemoryObjectStore:
    return MemoryObjectStore()


@pytest.fixture
def registry(engine: Engine, objects: MemoryObjectStore) -> SqlModelRegistry:
    registry = SqlModelRegistry(engine)
    for version in ("v1", "v2", "v3"):
        release(registry, objects, version)
    release(registry, objects, "v4", status="rejected", reasons=["auc 0.5 is below the minimum 0.7"])
    return registry


def service(registry: SqlModelRegistry, objects: ObjectStore, loader: ModelLoader | None = None) -> PromotionService:
    verifier = VersionVerifier(artifacts=objects, verifies=SIGNER.verifies, loader=loader)
    return PromotionService(registry=registry, manifests=ManifestCatalog.from_directory(None), verifier=verifier)


def test_manual_promotion_and_rollbacks_name_their_actor(
    registry: SqlModelRegistry, objects: MemoryObjectStore
) -> None:
    promotions = service(registry, objects)
    _, first = promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    assert (first.champion, first.updated_by, first.revision) == ("v1", "alice", 1)
    _, canary = promotions.change(
        "card_fraud", TrafficChange(version="v2", policy="canary", canary_percent=20), actor="bob"
    )
    assert (canary.challenger, canary.policy, canary.canary_percent, canary.updated_by) == ("v2", "canary", 20.0, "bob")
    _, dropped = promotions.rollback("card_fraud", Rollback(reason="looks off"), actor="carol")
    assert dropped.challenger is None and dropped.champion == "v1" and dropped.updated_by == "carol"
    _, promoted = promotions.change("card_fraud", TrafficChange(version="v3", policy="full"), actor="alice")
    assert (promoted.champion, promoted.previous_champion) == ("v3", "v1")
    _, restored = promotions.rollback("card_fraud", Rollback(), actor="alice")
    assert restored.champion == "v1"
    with pytest.raises(TrafficChangeError):
        promotions.rollback("card_fraud", Rollback(), actor="alice")


def test_bad_changes_are_refused(registry: SqlModelRegistry, objects: MemoryObjectStore) -> None:
    promotions = service(registry, objects)
    with pytest.raises(NotFoundError):
        promotions.traffic("card_fraud")
    with pytest.raises(TrafficChangeError, match="no champion"):
        promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow"), actor="alice")
    with pytest.raises(VersionRejectedError):
        promotions.change("card_fraud", TrafficChange(version="v4", policy="full"), actor="alice")
    with pytest.raises(NotFoundError, match="v9"):
        promotions.change("card_fraud", TrafficChange(version="v9", policy="full"), actor="alice")
    with pytest.raises(NotFoundError):
        promotions.change("no_such_use_case", TrafficChange(version="v1", policy="full"), actor="alice")
    promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    with pytest.raises(RevisionConflictError):
        promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow", expected_revision=0), actor="bob")


def _refusal(promotions: PromotionService, version: str, policy: str = "full") -> str:
    with pytest.raises(VersionUnverifiedError) as refused:
        promotions.change("card_fraud", TrafficChange(version=version, policy=policy), actor="alice")
    return str(refused.value)


def test_a_version_whose_stored_artifact_no_longer_verifies_is_refused(
    registry: SqlModelRegistry, objects: MemoryObjectStore
) -> None:
    promotions = service(registry, objects)
    v2, v3 = registry.get("card-fraud", "v2"), registry.get("card-fraud", "v3")
    assert v2 is not None and v3 is not None
    flipped = bytearray(artifact_of("v2"))
    flipped[len(flipped) // 2] ^= 0x01
    objects.objects[v2.manifest.artifact_key] = bytes(flipped)
    objects.delete(v3.manifest.artifact_key)

    tampered = _refusal(promotions, "v2")
    missing = _refusal(promotions, "v3")

    assert tampered.startswith("model version card-fraud:v2 cannot take traffic: the stored artifact")
    assert f"is not the signed one ({len(flipped)} bytes, sha256 {v2.manifest.artifact_digest})" in tampered
    assert f"no artifact is stored at {v3.manifest.artifact_key}" in missing
    assert registry.traffic("card_fraud") is None
    _, promoted = promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    assert promoted.champion == "v1"
    assert "stored artifact" in _refusal(promotions, "v2", "shadow")
    assert registry.traffic("card_fraud") == promoted


def test_a_version_whose_stored_manifest_no_longer_verifies_is_refused(
    engine: Engine, registry: SqlModelRegistry, objects: MemoryObjectStore
) -> None:
    promotions = service(registry, objects)
    # The registry's copy with a lower threshold: more approvals, and a signature that no longer holds.
    with Session(engine) as session, session.begin():
        row = session.exec(select(ModelVersionRow).where(col(ModelVersionRow.version) == "v1")).one()
        document = dict(row.manifest)
        document["manifest"] = {**document["manifest"], "threshold": 0.1}
        row.manifest = document
    # The copy stored beside the artifact, replaced by another validly signed manifest.
    v2 = registry.get("card-fraud", "v2")
    assert v2 is not None
    other = SIGNER.sign(v2.manifest.model_copy(update={"threshold": 0.1}))
    objects.objects[manifest_key("card-fraud", "v2")] = other.model_dump_json().encode()
    objects.objects[manifest_key("card-fraud", "v3")] = b"{not json"
    foreign = release(registry, objects, "v5", signer=ManifestSigner.generate())

    registered = _refusal(promotions, "v1")
    stored = _refusal(promotions, "v2")
    unreadable = _refusal(promotions, "v3")

    assert "the registered manifest's signature does not verify" in registered
    assert "differs from the registered one" in registered
    assert stored.endswith(
        f"the signed manifest stored at {manifest_key('card-fraud', 'v2')} differs from the registered one"
    )
    assert "is not a model.v1 signed manifest" in unreadable
    assert "signature does not verify" in _refusal(promotions, foreign.manifest.model_version)
    assert registry.traffic("card_fraud") is None


class RecordingLoader:
    """Stands in for the workers: loads what it is given, or refuses with the worker client's error."""

    def __init__(self, refusal: str | None = None) -> None:
        self.refusal = refusal
        self.loaded: list[str] = []

    def load(self, signed: SignedManifest, timeout_s: float) -> None:
        self.loaded.append(signed.manifest.model_version)
        if self.refusal is not None:
            raise WorkerError(self.refusal)


def test_a_version_no_worker_loads_is_refused_and_one_that_loads_promotes(
    registry: SqlModelRegistry, objects: MemoryObjectStore
) -> None:
    refusing = RecordingLoader("worker answered 422 ArtifactVerificationError: digest mismatch")
    objects.delete(manifest_key("card-fraud", "v2"))

    assert _refusal(service(registry, objects, refusing), "v1").endswith(
        "no worker loaded it: worker answered 422 ArtifactVerificationError: digest mismatch"
    )
    assert "no signed manifest is stored" in _refusal(service(registry, objects, refusing), "v2")
    # A version whose stored copies fail is not sent to a worker at all.
    assert refusing.loaded == ["v1"]
    loading = RecordingLoader()
    _, promoted = service(registry, objects, loading).change(
        "card_fraud", TrafficChange(version="v1", policy="full"), actor="alice"
    )
    assert promoted.champion == "v1" and loading.loaded == ["v1"]
    # A rejected version is refused for its gates, before any worker is asked.
    with pytest.raises(VersionRejectedError):
        service(registry, objects, loading).change("card_fraud", TrafficChange(version="v4", policy="full"), actor="a")
    assert loading.loaded == ["v1"]


class FixedClock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> float:
        return self.moment.timestamp()

    def monotonic(self) -> float:
        return self.moment.timestamp()


def inference_event(index: int, version: str, *, role: str, error: bool, at: datetime) -> AuditEvent:
    return AuditEvent(
        event_id=f"w-{version}-{index}",
        occurred_at=at,
        source="worker:leaim-inference",
        action="worker.inference",
        invocation_id=f"i-{index}",
        outcome="error" if error else "success",
        trace_id="0" * 32,
        duration_ms=5.0,
        use_case="card_fraud",
        model_name="card-fraud",
        model_version=version,
        details={"role": role},
    )


def test_the_controller_rolls_back_a_failing_shadow_and_promotes_a_good_canary(
    engine: Engine, registry: SqlModelRegistry, objects: MemoryObjectStore
) -> None:
    promotions = service(registry, objects)
    promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow"), actor="alice")
    later = datetime.now(UTC) + timedelta(seconds=5)
    log = SqlAuditLog(engine)
    events = [inference_event(i, "v1", role="champion", error=False, at=later) for i in range(60)]
    events += [inference_event(i, "v2", role="shadow", error=True, at=later) for i in range(60)]
    log.append_many(events)
    catalog = ManifestCatalog.from_directory(None)
    controller = PromotionController(
        registry=registry,
        stats=SqlVersionStats(engine),
        manifests=catalog,
        clock=FixedClock(later + timedelta(seconds=1)),
    )
    decision = controller.evaluate(catalog.get("card_fraud"))
    assert decision.action == "rollback" and decision.challenger is not None and decision.challenger.errors == 60
    policy = registry.traffic("card_fraud")
    assert policy is not None and policy.challenger is None and policy.updated_by == CONTROLLER

    promotions.change("card_fraud", TrafficChange(version="v3", policy="canary", canary_percent=10), actor="alice")
    start = datetime.now(UTC) + timedelta(seconds=10)
    log.append_many([inference_event(100 + i, "v3", role="canary", error=False, at=start) for i in range(60)])
    log.append_many([inference_event(100 + i, "v1", role="champion", error=False, at=start) for i in range(60)])
    controller = PromotionController(
        registry=registry,
        stats=SqlVersionStats(engine),
        manifests=catalog,
        clock=FixedClock(start + timedelta(seconds=1)),
    )
    promoted = controller.evaluate(catalog.get("card_fraud"))
    assert promoted.action == "promote", promoted.reasons
    policy = registry.traffic("card_fraud")
    assert policy is not None and (policy.champion, policy.previous_champion, policy.challenger) == ("v3", "v1", None)


class BrokenStats:
    def version_stats(self, use_case: str, model_name: str, since: datetime) -> dict[str, VersionStats]:
        raise RuntimeError("stats query crashed")


def test_a_controller_run_that_crashes_still_stores_its_one_audit_event(
    registry: SqlModelRegistry, objects: MemoryObjectStore
) -> None:
    promotions = service(registry, objects)
    promotions.change("card_fraud", TrafficChange(version="v1", policy="full"), actor="alice")
    promotions.change("card_fraud", TrafficChange(version="v2", policy="shadow"), actor="alice")
    controller = PromotionController(
        registry=registry,
        stats=BrokenStats(),
        manifests=ManifestCatalog.from_directory(None),
        clock=FixedClock(datetime.now(UTC)),
    )
    log = MemoryAuditLog()
    with pytest.raises(RuntimeError, match="stats query crashed"):
        run_controller(
            controller,
            ScheduleGate(
                audit_log=log,
                telemetry=StaticTelemetry(),
                clock=FixedClock(datetime.now(UTC)),
                source="PromotionControllerFunction",
            ),
            "run-1",
        )
    assert [(e.invocation_id, e.outcome, e.principal) for e in log.events] == [
        ("run-1", "error", "controller:promotion")
    ]
    assert "RuntimeError: stats query crashed" in (log.events[0].error or "")
