"""Replay for auditors on the embedded default: decisions made over HTTP, replayed through the decision API and
`leaim replay`, come out the same; under another policy version or model version, the replay names what differs
and why. Real handlers, workers, moto and SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from embedded.cli import main
from embedded.clients.decisions import DecisionClient
from embedded.clients.http import send
from embedded.demos.traffic import decision_request
from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

USE_CASE = "card_fraud"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich folds tables to the terminal's width; a wide one keeps each value on one line."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    options = WorldOptions(state_dir=tmp_path_factory.mktemp("replay"), stack_name="e2e-replay", run_schedules=False)
    with LocalWorld(options) as running:
        running.train(rows=6_000)
        running.seed(CardFraudGenerator(running.manifest, seed=61).cards(50))
        yield running


@pytest.fixture(scope="module")
def scored(world: LocalWorld) -> list[dict[str, Any]]:
    """Decisions the champion scored (no rule, no fallback), made over HTTP by the local decision client."""
    cards = CardFraudGenerator(world.manifest, seed=61).cards(50)
    key = world.api_keys["decision_client"]
    answers = []
    for index, transaction in enumerate(CardFraudGenerator(world.manifest, seed=62).transactions(40, cards)):
        answer = send(world.running.api_url, decision_request(USE_CASE, f"replay-{index}", transaction.inputs, key))
        assert answer.status == 200, answer.body
        if answer.body["model"] is not None and not answer.body["fallback"]:
            answers.append(answer.body)
    assert len(answers) >= 20
    return answers


def auditor(world: LocalWorld) -> DecisionClient:
    return DecisionClient(world.running.api_url, world.api_keys["auditor"])


def leaim(capsys: pytest.CaptureFixture[str], world: LocalWorld, *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), *argv])
    return int(exited.value.code or 0), capsys.readouterr().out


def test_a_decision_replayed_under_its_recorded_bindings_is_the_same_and_the_replay_is_audited(
    world: LocalWorld, scored: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    for decision in scored[:5]:
        report = auditor(world).replay(decision["decision_id"])
        assert report.same, report.differences
        assert report.made_with.model is not None and report.made_with.model.model_dump() == decision["model"]
        assert report.replayed_with.model == report.made_with.model
        assert report.replayed_with.policy is not None
        assert report.replayed_with.policy.digest == decision["policy"]["digest"]
        assert report.replayed.score == decision["score"] and report.replayed.outcome == decision["outcome"]

    status, printed = leaim(capsys, world, "replay", scored[0]["decision_id"])
    assert status == 0, printed
    assert "The replay decides as the decision was made." in printed

    events = world.audit_log.events(AuditQuery(decision_id=scored[0]["decision_id"]))
    replays = [e for e in events if e.action == "decision.replay"]
    calls = [e for e in events if e.action == "worker.inference" and e.details.get("role") == "replay"]
    assert len(replays) == 2 and {e.principal for e in replays} == {"local-auditor"}
    assert all(e.details["same"] for e in replays)
    assert len(calls) == 2 and {e.model_version for e in calls} == {scored[0]["model"]["version"]}


def test_a_policy_version_with_another_review_band_changes_the_outcome_and_says_so(
    world: LocalWorld, scored: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    decision = next(d for d in scored if d["outcome"] != "review")
    document = world.catalog.get(USE_CASE).model_dump(mode="json")
    document["decision"]["review_band"] = {"low": 0.0, "high": 1.0, "outcome": "review"}
    proposed = world.call(
        "POST",
        f"/v1/use-cases/{USE_CASE}/policies",
        "ml_engineer",
        {"document": document, "note": "every scored decision to a person"},
        expect=201,
    )
    version = int(proposed["version"])

    report = auditor(world).replay(decision["decision_id"], policy_version=version)

    assert not report.same and report.replayed_with.policy is not None
    assert report.replayed_with.policy.version == version
    outcome = next(d for d in report.differences if d.field == "outcome")
    assert (outcome.original, outcome.replayed) == (decision["outcome"], "review")
    assert f"policy version {version} moves the review band to [0, 1)" in outcome.why
    assert f"score {decision['score']:.3f} is in the review band [0, 1)" in outcome.why

    status, printed = leaim(capsys, world, "replay", decision["decision_id"], "--policy", str(version))
    assert status == 1
    assert "Differences: 3" in printed and "moves the review band to [0, 1)" in printed


def test_another_model_version_scores_the_stored_features_and_the_outcomes_it_changes_are_named(
    world: LocalWorld, scored: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert world.training_snapshot is not None
    job = world.run_training_job(
        world.training_snapshot.snapshot_id,
        family="gradient_boosted_trees",
        params={"n_estimators": 60},
        version="gbt-2",
        deploy="shadow",
    )
    assert job.state == "succeeded", job.reasons or job.message

    reports = [auditor(world).replay(d["decision_id"], model_version="gbt-2") for d in scored]

    assert all(not report.same for report in reports)
    for report in reports:
        score = next(d for d in report.differences if d.field == "score")
        assert report.replayed_with.model is not None and report.replayed_with.model.version == "gbt-2"
        assert report.made_with.model is not None
        gbt, v1 = report.replayed_with.model.artifact_digest[:12], report.made_with.model.artifact_digest[:12]
        assert score.why == (
            f"model card-fraud gbt-2 (artifact {gbt}) scored the stored features "
            f"(model card-fraud v1 (artifact {v1}) scored the decision)"
        )
    changed = [report for report in reports if report.replayed.outcome != report.original.outcome]
    assert changed, "gbt-2 decided every sampled decision as v1 did"
    for report in changed:
        outcome = next(d for d in report.differences if d.field == "outcome")
        assert outcome.why.startswith("model card-fraud gbt-2")
        assert f"scores {report.replayed.score:.3f} (when it was made: {report.original.score:.3f})" in outcome.why

    status, printed = leaim(capsys, world, "replay", changed[0].decision_id, "--model", "gbt-2")
    assert status == 1 and "gbt-2" in printed and "outcome" in printed
    missing, _ = leaim(capsys, world, "replay", changed[0].decision_id, "--model", "no-such-version")
    assert missing == 2
