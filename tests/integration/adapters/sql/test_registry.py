"""Model registry, traffic policies and router, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import event

from contracts.model.v1 import (
    GateResult,
    Lineage,
    ModelManifest,
    ModelSummary,
    SignedManifest,
    TrafficPolicy,
)
from contracts.training.v2 import Baseline, GroupRate, Histogram, TrainingMetrics
from leaim.adapters.sql import ModelVersionExistsError, SqlModelRegistry
from leaim.adapters.sql.process import SqlProcessHistory
from leaim.exceptions import (
    ConflictError,
    NotFoundError,
    RevisionConflictError,
    TrafficChangeError,
    VersionRejectedError,
)
from leaim.serving.ports import ActiveModel, ModelRouter, TrafficPlan

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

USE_CASE = "credit_limit"
MODEL = "credit"
FEATURES = ["income", "tenure_months", "utilisation"]
SIGNING_KEY = Ed25519PrivateKey.generate()
KEY_ID = hashlib.sha256(SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]
ROUNDS = 10


def digest_of(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def signed_manifest(version: str, *, model: str = MODEL, **overrides: Any) -> SignedManifest:
    values: dict[str, Any] = {
        "model_name": model,
        "model_version": version,
        "use_case": USE_CASE,
        "family": "logistic_regression",
        "artifact_digest": digest_of(f"{model}:{version}"),
        "artifact_bytes": 1234,
        "artifact_key": f"artifacts/sha256/{digest_of(f'{model}:{version}')}.onnx",
        "feature_names": FEATURES,
        "params": {"C": 0.5, "max_iter": 200, "tol": 1e-05, "class_weight": "balanced"},
        "seed": 7,
        "threshold": 0.5,
        "metrics": TrainingMetrics(
            auc=0.871,
            precision=0.8,
            recall=0.65,
            threshold=0.5,
            brier=0.1234,
            calibration_error=0.031,
            train_rows=800,
            holdout_rows=200,
            positive_rate=0.3,
            parity_max_abs_diff=0.04,
            latency_p50_ms=0.2,
            latency_p99_ms=1.5,
            group_rates={"region": {"north": GroupRate(rows=90, favorable_rate=0.71)}},
        ),
        "gates": [GateResult(gate="auc", passed=True, value=0.871, limit=0.7, message="auc 0.871 >= 0.7")],
        "status": "approved",
        "lineage": Lineage(
            dataset="credit_applications",
            snapshot_id="snap-1",
            snapshot_sha256=digest_of("snapshot"),
            feature_version="f1",
            code_version="abc123",
            training_job_id="job-1",
            trigger="person",
            requested_by="svc-ml",
        ),
        "baseline": Baseline(
            features={"income": Histogram(edges=[0.0, 1000.0, 5000.0], counts=[3, 7])},
            score=Histogram(edges=[0.0, 0.5, 1.0], counts=[120, 80]),
            rows=200,
        ),
        "created_at": datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC),
    }
    values.update(overrides)
    manifest = ModelManifest(**values)
    signature = base64.b64encode(SIGNING_KEY.sign(manifest.canonical_bytes())).decode()
    return SignedManifest(manifest=manifest, key_id=KEY_ID, signature=signature)


def publish_versions(registry: SqlModelRegistry, *versions: str, status: str = "approved") -> None:
    for version in versions:
        registry.publish(signed_manifest(version, status=status))


def active(version: str, *, features: list[str] = FEATURES) -> ActiveModel:
    return ActiveModel(
        name=MODEL, version=version, artifact_digest=digest_of(f"{MODEL}:{version}"), feature_names=tuple(features)
    )


def race(calls: list[Callable[[], TrafficPolicy]]) -> tuple[list[TrafficPolicy], list[RevisionConflictError]]:
    """Run the calls at once from their own threads; the changes that were stored and the conflicts raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], TrafficPolicy]) -> TrafficPolicy | RevisionConflictError:
        start.wait()
        try:
            return call()
        except RevisionConflictError as conflict:
            return conflict

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        outcomes = list(pool.map(run, calls))
    won = [outcome for outcome in outcomes if isinstance(outcome, TrafficPolicy)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, RevisionConflictError)]
    return won, lost


def test_registry_implements_the_router_port(engine: Engine) -> None:
    router: ModelRouter = SqlModelRegistry(engine)
    assert router.plan(USE_CASE) is None


def test_publish_and_read_back_keeps_the_signature_valid(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    signed = signed_manifest("v1")

    assert registry.publish(signed) == signed

    stored = registry.get(MODEL, "v1")
    assert stored == signed
    assert stored is not None
    # The bytes the signature covers survive the database's JSON exactly, so the worker's check still passes.
    assert stored.manifest.canonical_bytes() == signed.manifest.canonical_bytes()
    SIGNING_KEY.public_key().verify(base64.b64decode(stored.signature), stored.manifest.canonical_bytes())
    assert registry.get(MODEL, "v2") is None
    assert registry.get("fraud", "v1") is None


@pytest.mark.parametrize("identical", [True, False], ids=["identical", "different"])
def test_versions_are_immutable(engine: Engine, identical: bool) -> None:
    registry = SqlModelRegistry(engine)
    first = signed_manifest("v1")
    registry.publish(first)
    again = first if identical else signed_manifest("v1", artifact_digest=digest_of("other"), status="rejected")

    with pytest.raises(
        ModelVersionExistsError, match=r"credit:v1 is already published .* versions are immutable"
    ) as caught:
        registry.publish(again)

    assert isinstance(caught.value, ConflictError)
    assert (caught.value.name, caught.value.version) == (MODEL, "v1")
    assert caught.value.artifact_digest == first.manifest.artifact_digest
    assert registry.versions(MODEL) == [first]


def test_concurrent_publishes_of_one_version_store_exactly_one(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    candidates = [signed_manifest("v1", artifact_digest=digest_of(f"build-{index}")) for index in range(6)]
    start = threading.Barrier(len(candidates))

    def publish(candidate: SignedManifest) -> SignedManifest | None:
        start.wait()
        try:
            return registry.publish(candidate)
        except ModelVersionExistsError:
            return None

    with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
        outcomes = list(pool.map(publish, candidates))

    winners = [outcome for outcome in outcomes if outcome is not None]
    assert len(winners) == 1
    assert registry.versions(MODEL) == winners


def test_a_manifest_json_cannot_carry_is_refused(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    broken = signed_manifest("v1", threshold=float("nan"))

    with pytest.raises(ValueError, match="manifest of model version credit:v1 cannot be stored as JSON"):
        registry.publish(broken)

    assert registry.get(MODEL, "v1") is None


def test_versions_lists_one_model_oldest_first(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    published = [signed_manifest(version) for version in ("v2", "v10", "v1")]
    for signed in published:
        registry.publish(signed)
    registry.publish(signed_manifest("v1", model="fraud"))

    assert registry.versions(MODEL) == published
    assert registry.versions("unknown") == []


def test_next_version_counts_past_the_highest_numbered_version(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    assert registry.next_version(MODEL) == "v1"

    publish_versions(registry, "v1", "v2", "v10", "v11-hotfix", "2025.03", "V12", "va")
    registry.publish(signed_manifest("v40", model="fraud"))

    assert registry.next_version(MODEL) == "v11"
    assert registry.next_version("fraud") == "v41"
    assert registry.next_version("unknown") == "v1"


def test_models_summarise_versions_and_aliases(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2")
    registry.publish(signed_manifest("v3", status="rejected", family="gradient_boosted_trees"))
    registry.publish(signed_manifest("v1", model="fraud", use_case="fraud_check"))
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v2", "shadow", 0.0, actor="ops")

    assert registry.models() == [
        ModelSummary(
            model_name=MODEL,
            use_case=USE_CASE,
            family="gradient_boosted_trees",
            versions=3,
            approved=2,
            rejected=1,
            champion="v1",
            challenger="v2",
            latest_version="v3",
        ),
        ModelSummary(
            model_name="fraud",
            use_case="fraud_check",
            family="logistic_regression",
            versions=1,
            approved=1,
            rejected=0,
            champion=None,
            challenger=None,
            latest_version="v1",
        ),
    ]


def test_models_is_empty_without_versions(engine: Engine) -> None:
    assert SqlModelRegistry(engine).models() == []


def test_first_champion_creates_the_policy_and_the_plan(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1")
    before = datetime.now(UTC)

    policy = registry.set_champion(USE_CASE, MODEL, "v1", actor="ops@bank", expected_revision=0)

    assert policy.model_dump(exclude={"updated_at"}) == {
        "use_case": USE_CASE,
        "model_name": MODEL,
        "champion": "v1",
        "challenger": None,
        "policy": None,
        "canary_percent": 0.0,
        "previous_champion": None,
        "revision": 1,
        "updated_by": "ops@bank",
    }
    assert before <= policy.updated_at <= datetime.now(UTC)
    assert registry.traffic(USE_CASE) == policy
    assert registry.traffic("fraud_check") is None
    assert registry.plan(USE_CASE) == TrafficPlan(
        champion=active("v1"), challenger=None, policy=None, canary_percent=0.0
    )


def test_a_new_champion_keeps_the_former_one_for_rollback(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2", "v3")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v3", "canary", 20.0, actor="ops")

    policy = registry.set_champion(USE_CASE, MODEL, "v2", actor="release", expected_revision=2)

    assert (policy.champion, policy.previous_champion, policy.revision) == ("v2", "v1", 3)
    assert (policy.challenger, policy.policy, policy.canary_percent) == ("v3", "canary", 20.0)
    assert registry.traffic(USE_CASE) == policy


def test_promoting_the_challenger_clears_it(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v2", "canary", 10.0, actor="ops")

    policy = registry.set_champion(USE_CASE, MODEL, "v2", actor="controller:promotion", expected_revision=2)

    assert (policy.champion, policy.challenger, policy.policy, policy.canary_percent) == ("v2", None, None, 0.0)
    assert (policy.previous_champion, policy.revision, policy.updated_by) == ("v1", 3, "controller:promotion")
    assert registry.plan(USE_CASE) == TrafficPlan(
        champion=active("v2"), challenger=None, policy=None, canary_percent=0.0
    )


def test_challengers_run_in_shadow_or_canary_and_replace_each_other(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2")
    registry.publish(signed_manifest("v3", feature_names=["income", "utilisation"]))
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    shadow = registry.set_challenger(USE_CASE, MODEL, "v2", "shadow", 10.0, actor="ops", expected_revision=1)
    assert (shadow.challenger, shadow.policy, shadow.canary_percent, shadow.revision) == ("v2", "shadow", 0.0, 2)
    assert registry.plan(USE_CASE) == TrafficPlan(
        champion=active("v1"), challenger=active("v2"), policy="shadow", canary_percent=0.0
    )

    canary = registry.set_challenger(USE_CASE, MODEL, "v2", "canary", 25.0, actor="ops", expected_revision=2)
    assert (canary.challenger, canary.policy, canary.canary_percent, canary.revision) == ("v2", "canary", 25.0, 3)

    replaced = registry.set_challenger(USE_CASE, MODEL, "v3", "canary", 5.0, actor="ops", expected_revision=3)
    assert (replaced.champion, replaced.challenger, replaced.canary_percent) == ("v1", "v3", 5.0)
    assert registry.traffic(USE_CASE) == replaced
    assert registry.plan(USE_CASE) == TrafficPlan(
        champion=active("v1"),
        challenger=active("v3", features=["income", "utilisation"]),
        policy="canary",
        canary_percent=5.0,
    )


def test_a_challenger_needs_a_champion_first(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1")

    with pytest.raises(TrafficChangeError, match="no champion yet; promote with policy full first"):
        registry.set_challenger(USE_CASE, MODEL, "v1", "shadow", 0.0, actor="ops")

    assert registry.traffic(USE_CASE) is None


def test_the_champion_cannot_also_be_the_challenger(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1")
    policy = registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    with pytest.raises(TrafficChangeError, match="is the champion"):
        registry.set_challenger(USE_CASE, MODEL, "v1", "canary", 10.0, actor="ops")
    with pytest.raises(TrafficChangeError, match="already the champion"):
        registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    assert registry.traffic(USE_CASE) == policy


def test_rejected_and_unknown_versions_never_serve(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1")
    registry.publish(signed_manifest("v2", status="rejected", reasons=["auc 0.61 < 0.7"]))

    with pytest.raises(VersionRejectedError, match="credit:v2 was rejected"):
        registry.set_champion(USE_CASE, MODEL, "v2", actor="ops")
    assert registry.traffic(USE_CASE) is None

    policy = registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    with pytest.raises(VersionRejectedError):
        registry.set_challenger(USE_CASE, MODEL, "v2", "shadow", 0.0, actor="ops")
    with pytest.raises(VersionRejectedError):
        registry.set_champion(USE_CASE, MODEL, "v2", actor="ops")
    with pytest.raises(NotFoundError, match="credit:v9 is not published"):
        registry.set_champion(USE_CASE, MODEL, "v9", actor="ops")
    with pytest.raises(NotFoundError):
        registry.set_challenger(USE_CASE, MODEL, "v9", "canary", 10.0, actor="ops")

    assert registry.traffic(USE_CASE) == policy


def test_versions_of_another_use_case_or_model_are_refused(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1")
    registry.publish(signed_manifest("v2", use_case="fraud_check"))
    registry.publish(signed_manifest("v1", model="credit-gbt"))
    policy = registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    with pytest.raises(TrafficChangeError, match="trained for use case 'fraud_check', not 'credit_limit'"):
        registry.set_challenger(USE_CASE, MODEL, "v2", "shadow", 0.0, actor="ops")
    with pytest.raises(TrafficChangeError, match="served by model 'credit', not 'credit-gbt'"):
        registry.set_champion(USE_CASE, "credit-gbt", "v1", actor="ops")
    with pytest.raises(TrafficChangeError, match="served by model 'credit', not 'credit-gbt'"):
        registry.set_challenger(USE_CASE, "credit-gbt", "v1", "canary", 10.0, actor="ops")

    assert registry.traffic(USE_CASE) == policy


@pytest.mark.parametrize(
    ("policy", "percent", "message"),
    [("full", 10.0, "policy is one of"), ("canary", 0.0, "not 0.0"), ("canary", 100.0, "not 100.0")],
)
def test_malformed_challenger_policies_are_refused(engine: Engine, policy: str, percent: float, message: str) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    with pytest.raises(ValueError, match=message):
        registry.set_challenger(USE_CASE, MODEL, "v2", policy, percent, actor="ops")

    current = registry.traffic(USE_CASE)
    assert current is not None
    assert (current.challenger, current.revision) == (None, 1)


def test_clearing_the_challenger_rolls_it_back(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    with pytest.raises(TrafficChangeError, match="no challenger to roll back"):
        registry.clear_challenger(USE_CASE, actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v2", "canary", 10.0, actor="ops")

    policy = registry.clear_challenger(USE_CASE, actor="controller:promotion", expected_revision=2)

    assert (policy.champion, policy.challenger, policy.policy, policy.canary_percent) == ("v1", None, None, 0.0)
    assert (policy.revision, policy.updated_by) == (3, "controller:promotion")
    assert registry.traffic(USE_CASE) == policy
    with pytest.raises(TrafficChangeError, match="no challenger to roll back"):
        registry.clear_challenger(USE_CASE, actor="ops")
    with pytest.raises(TrafficChangeError, match="no challenger to roll back"):
        registry.clear_challenger("fraud_check", actor="ops")


def test_restoring_the_previous_champion_does_not_ping_pong(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2", "v3")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    with pytest.raises(TrafficChangeError, match="no previous champion"):
        registry.restore_previous(USE_CASE, actor="ops")
    registry.set_champion(USE_CASE, MODEL, "v2", actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v3", "shadow", 0.0, actor="ops")

    policy = registry.restore_previous(USE_CASE, actor="oncall", expected_revision=3)

    assert (policy.champion, policy.previous_champion, policy.revision) == ("v1", None, 4)
    assert (policy.challenger, policy.policy) == ("v3", "shadow")
    assert registry.traffic(USE_CASE) == policy
    with pytest.raises(TrafficChangeError, match="no previous champion"):
        registry.restore_previous(USE_CASE, actor="oncall")
    with pytest.raises(TrafficChangeError, match="no previous champion"):
        registry.restore_previous("fraud_check", actor="oncall")


def test_restoring_a_champion_that_is_now_the_challenger_clears_the_challenger(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    registry.set_champion(USE_CASE, MODEL, "v2", actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v1", "canary", 10.0, actor="ops")

    policy = registry.restore_previous(USE_CASE, actor="oncall")

    assert (policy.champion, policy.challenger, policy.policy, policy.previous_champion) == ("v1", None, None, None)


def test_every_change_leaves_one_history_row_and_a_refused_one_none(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    history = SqlProcessHistory(engine)
    publish_versions(registry, "v1", "v2", "v3")
    before = datetime.now(UTC) - timedelta(seconds=1)
    registry.set_champion(USE_CASE, MODEL, "v1", actor="training-job:j-1")
    registry.set_challenger(USE_CASE, MODEL, "v2", "canary", 10.0, actor="ops")
    registry.clear_challenger(USE_CASE, actor="controller:promotion")
    registry.set_challenger(USE_CASE, MODEL, "v3", "shadow", 0.0, actor="ops")
    registry.set_champion(USE_CASE, MODEL, "v3", actor="controller:promotion")
    with pytest.raises(RevisionConflictError):
        registry.set_champion(USE_CASE, MODEL, "v2", actor="late", expected_revision=1)
    with pytest.raises(TrafficChangeError):
        registry.clear_challenger(USE_CASE, actor="late")
    registry.restore_previous(USE_CASE, actor="oncall")
    after = datetime.now(UTC) + timedelta(seconds=1)

    changes = history.traffic_changes(USE_CASE, before, after)

    assert [(c.revision, c.change, c.version, c.champion, c.challenger, c.by) for c in changes] == [
        (1, "promote", "v1", "v1", None, "training-job:j-1"),
        (2, "challenge", "v2", "v1", "v2", "ops"),
        (3, "clear", None, "v1", None, "controller:promotion"),
        (4, "challenge", "v3", "v1", "v3", "ops"),
        (5, "promote", "v3", "v3", None, "controller:promotion"),
        (6, "restore", "v1", "v1", None, "oncall"),
    ]
    policy = registry.traffic(USE_CASE)
    assert policy is not None
    assert changes[-1].at == policy.updated_at
    assert history.traffic_changes(USE_CASE, after, after + timedelta(days=1)) == []
    assert history.traffic_changes("fraud_check", before, after) == []


def test_stale_expected_revisions_are_refused(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2", "v3")
    with pytest.raises(RevisionConflictError, match="at revision 0, not 1"):
        registry.set_champion(USE_CASE, MODEL, "v1", actor="ops", expected_revision=1)
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops", expected_revision=None)
    registry.set_champion(USE_CASE, MODEL, "v2", actor="ops", expected_revision=1)
    stored = registry.set_challenger(USE_CASE, MODEL, "v3", "shadow", 0.0, actor="ops", expected_revision=2)

    changes: list[Callable[[], TrafficPolicy]] = [
        lambda: registry.set_champion(USE_CASE, MODEL, "v3", actor="late", expected_revision=2),
        lambda: registry.set_challenger(USE_CASE, MODEL, "v1", "canary", 10.0, actor="late", expected_revision=0),
        lambda: registry.clear_challenger(USE_CASE, actor="late", expected_revision=1),
        lambda: registry.restore_previous(USE_CASE, actor="late", expected_revision=4),
    ]
    for change in changes:
        with pytest.raises(RevisionConflictError, match="is at revision 3") as caught:
            change()
        assert isinstance(caught.value, ConflictError)

    assert registry.traffic(USE_CASE) == stored


def test_a_change_between_read_and_write_is_not_overwritten(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, "v1", "v2", "v3")
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")
    registry.set_challenger(USE_CASE, MODEL, "v2", "shadow", 0.0, actor="ops")
    interfered: list[str] = []

    def interfere(connection: Any, cursor: Any, statement: str, *_: Any) -> None:
        # Another writer's change lands after this change read revision 2 and before it writes.
        if statement.startswith("UPDATE traffic_policies") and not interfered:
            interfered.append(statement)
            other = connection.connection.cursor()
            other.execute("UPDATE traffic_policies SET revision = revision + 1, updated_by = 'other'")
            other.close()

    event.listen(engine, "before_cursor_execute", interfere)
    try:
        with pytest.raises(RevisionConflictError, match="changed after revision 2 was read"):
            registry.set_champion(USE_CASE, MODEL, "v3", actor="ops", expected_revision=None)
    finally:
        event.remove(engine, "before_cursor_execute", interfere)

    assert interfered
    policy = registry.traffic(USE_CASE)
    assert policy is not None
    # The whole change was rolled back, the interfering write with it: nothing is half-applied.
    assert (policy.champion, policy.challenger, policy.revision, policy.updated_by) == ("v1", "v2", 2, "ops")


def test_racing_changes_at_one_revision_store_exactly_one_whole(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, *(f"v{n}" for n in range(1, 2 * ROUNDS + 3)))
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    for round_ in range(ROUNDS):
        current = registry.traffic(USE_CASE)
        assert current is not None
        first, second = f"v{2 * round_ + 2}", f"v{2 * round_ + 3}"
        won, lost = race(
            [
                partial(
                    registry.set_champion, USE_CASE, MODEL, first, actor="first", expected_revision=current.revision
                ),
                partial(
                    registry.set_challenger,
                    USE_CASE,
                    MODEL,
                    second,
                    "canary",
                    30.0,
                    actor="second",
                    expected_revision=current.revision,
                ),
            ]
        )

        assert (len(won), len(lost)) == (1, 1)
        assert won[0].revision == current.revision + 1
        assert registry.traffic(USE_CASE) == won[0]
        if won[0].updated_by == "first":
            assert (won[0].champion, won[0].previous_champion) == (first, current.champion)
            assert won[0].challenger == current.challenger
        else:
            assert (won[0].champion, won[0].challenger, won[0].canary_percent) == (current.champion, second, 30.0)


def test_racing_champions_at_one_revision_store_exactly_one(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, *(f"v{n}" for n in range(1, 6)))
    registry.set_champion(USE_CASE, MODEL, "v1", actor="ops")

    for round_ in range(ROUNDS):
        current = registry.traffic(USE_CASE)
        assert current is not None
        candidates = [version for version in ("v2", "v3", "v4", "v5") if version != current.champion][:2]
        won, lost = race(
            [
                partial(
                    registry.set_champion,
                    USE_CASE,
                    MODEL,
                    version,
                    actor=f"racer-{round_}-{version}",
                    expected_revision=current.revision,
                )
                for version in candidates
            ]
        )

        assert (len(won), len(lost)) == (1, 1)
        assert registry.traffic(USE_CASE) == won[0]
        assert won[0].champion in candidates
        assert (won[0].previous_champion, won[0].revision) == (current.champion, current.revision + 1)


def test_racing_changes_without_an_expected_revision_never_mix(engine: Engine) -> None:
    registry = SqlModelRegistry(engine)
    publish_versions(registry, *(f"v{n}" for n in range(1, 6)))

    for round_ in range(ROUNDS):
        before = registry.traffic(USE_CASE)
        candidates = [version for version in ("v2", "v3", "v4", "v5") if before is None or version != before.champion]
        won, lost = race(
            [
                partial(registry.set_champion, USE_CASE, MODEL, version, actor=f"racer-{round_}-{version}")
                for version in candidates[:3]
            ]
        )

        # Each stored change took the next revision; the last of them is what is stored, whole.
        start = 0 if before is None else before.revision
        assert sorted(policy.revision for policy in won) == list(range(start + 1, start + 1 + len(won)))
        assert len(won) + len(lost) == 3
        assert registry.traffic(USE_CASE) == max(won, key=lambda policy: policy.revision)
