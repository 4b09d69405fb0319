"""Traffic policies on the decision path: champion only, shadow, and a sticky canary."""

from __future__ import annotations

import pytest

from leaim.exceptions import WorkerError
from leaim.serving.ports import ActiveModel
from leaim.serving.routing import canary_bucket
from tests.support.fakes import World, decide

CHALLENGER_DIGEST = "cd" * 32


def challenger(world: World) -> ActiveModel:
    return ActiveModel(
        name="card-fraud", version="v2", artifact_digest=CHALLENGER_DIGEST, feature_names=world.model.feature_names
    )


def worker_events(world: World, decision_id: str):
    return [e for e in world.audit.events if e.action == "worker.inference" and e.decision_id == decision_id]


def test_shadow_scores_the_challenger_and_records_it_while_the_champion_decides() -> None:
    world = World()
    world.router.traffic = world.plan(challenger(world), "shadow")
    result, _ = decide(world)
    decision = result.response
    assert decision.model is not None and decision.model.version == "v1"
    events = {e.details["role"]: e for e in worker_events(world, decision.decision_id)}
    assert set(events) == {"champion", "shadow"}
    shadow = events["shadow"]
    assert shadow.model_version == "v2" and shadow.artifact_digest == CHALLENGER_DIGEST
    assert shadow.outcome == "success" and shadow.details["score"] == pytest.approx(decision.score)
    assert sorted(r.artifact_digest for r in world.worker.requests) == sorted(
        [world.model.artifact_digest, CHALLENGER_DIGEST]
    )


def test_a_failing_shadow_never_changes_the_decision_but_is_recorded_as_an_error() -> None:
    world = World()
    world.router.traffic = world.plan(challenger(world), "shadow")
    world.worker.failing[CHALLENGER_DIGEST] = WorkerError("artifact refused: signature does not verify")
    result, _ = decide(world)
    decision = result.response
    assert not decision.fallback and decision.model is not None and decision.model.version == "v1"
    shadow = next(e for e in worker_events(world, decision.decision_id) if e.details["role"] == "shadow")
    assert shadow.outcome == "error" and "signature does not verify" in (shadow.error or "")


def test_canary_sends_its_share_of_cards_to_the_challenger_and_keeps_each_card_on_one_side() -> None:
    world = World()
    world.router.traffic = world.plan(challenger(world), "canary", canary_percent=25.0)
    served: dict[str, set[str]] = {}
    for index in range(400):
        card = f"card-{index % 200}"
        result, _ = decide(world, request_id=f"r-{index}", card_id=card, transaction_id=f"t-{index}")
        assert result.response.model is not None
        served.setdefault(card, set()).add(result.response.model.version)
    assert all(len(versions) == 1 for versions in served.values()), "a card moved between versions"
    share = sum(1 for versions in served.values() if versions == {"v2"}) / len(served)
    assert 0.15 <= share <= 0.35
    canary_events = [e for e in world.audit.events if e.action == "worker.inference" and e.details["role"] == "canary"]
    assert canary_events and all(e.model_version == "v2" for e in canary_events)


def test_a_canary_that_fails_gives_its_callers_the_fallback_and_names_the_challenger() -> None:
    world = World()
    world.router.traffic = world.plan(challenger(world), "canary", canary_percent=99.99)
    world.worker.failing[CHALLENGER_DIGEST] = WorkerError("boom")
    result, audit = decide(world)
    assert result.response.fallback and "v2" in (result.response.fallback_reason or "")
    assert audit.stored is not None and audit.stored.model_version == "v2"


def test_without_a_challenger_only_the_champion_serves() -> None:
    world = World()
    for index in range(20):
        result, _ = decide(world, request_id=f"r-{index}", card_id=f"card-{index}")
        assert result.response.model is not None and result.response.model.version == "v1"
    assert {r.artifact_digest for r in world.worker.requests} == {world.model.artifact_digest}


def test_canary_buckets_are_stable_and_spread_evenly() -> None:
    assert canary_bucket("card_fraud", "tok_1") == canary_bucket("card_fraud", "tok_1")
    buckets = [canary_bucket("card_fraud", f"tok_{i}") for i in range(10_000)]
    assert all(0.0 <= b < 100.0 for b in buckets)
    assert 0.08 <= sum(1 for b in buckets if b < 10.0) / len(buckets) <= 0.12


def test_a_shadow_trained_on_other_features_is_recorded_as_failing_not_skipped() -> None:
    world = World()
    other = ActiveModel(name="card-fraud", version="v2", artifact_digest=CHALLENGER_DIGEST, feature_names=("a", "b"))
    world.router.traffic = world.plan(other, "shadow")
    result, _ = decide(world)
    shadow = next(e for e in worker_events(world, result.response.decision_id) if e.details["role"] == "shadow")
    assert shadow.outcome == "error" and (shadow.error or "").startswith("ModelMismatchError")
    assert {r.artifact_digest for r in world.worker.requests} == {world.model.artifact_digest}
