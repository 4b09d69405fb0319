"""Replaying a stored decision: the same decision from a faithful store, and each difference named with its cause when
the policy, the model, a rule or the fallback changes what it comes to."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

import pytest

from contracts.decision.v1 import DecisionResponse, ModelRef, PolicyRef, Reason
from contracts.manifest.v1 import Condition, ReviewBand, Rule, UseCaseManifest
from contracts.policy.v1 import PolicyHead, PolicyVersion
from contracts.replay.v1 import DecisionReplayRequest
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.policies import LivePolicies, policy_digest
from leaim.exceptions import ConflictError, NotFoundError, WorkerTimeoutError
from leaim.governance.access.gate import HttpGate, Invocation
from leaim.governance.audit.events import DECISION_ACTION, InvocationAudit
from leaim.governance.ports import Principal
from leaim.orchestration.api import DecisionReplayApi
from leaim.orchestration.ports import RecordedDecision
from leaim.orchestration.replay import (
    DecisionReplayer,
    Evaluation,
    Side,
    differences,
    policy_changes,
    recorded_evaluation,
)
from leaim.serving.ports import ActiveModel
from tests.support.fakes import TRACE, LinearWorker, MemoryKeys, World, decide
from tests.support.openapi import Documented

USE_CASE = "card_fraud"
OTHER_DIGEST = "cd" * 32


class Records:
    """The accepted store as a replay reads it, over the fake audit log: what a decision was made from."""

    def __init__(self, world: World) -> None:
        self.log = world.audit

    def recorded(self, decision_id: str) -> RecordedDecision | None:
        response = self.log.decisions.get(decision_id)
        if response is None:
            return None
        event = next(e for e in self.log.events if e.decision_id == decision_id and e.action == DECISION_ACTION)
        features = self.log.features[decision_id]
        return RecordedDecision(
            response=response,
            inputs=json.loads(json.dumps(self.log.inputs[decision_id])),
            online=event.details.get("online"),
            features=None if features is None else json.loads(json.dumps(features)),
            made_by=event.principal,
        )


class Registry:
    """A policy registry holding the bootstrap file as version 1 (active) and the given later versions."""

    def __init__(self, file: UseCaseManifest, *later: UseCaseManifest) -> None:
        manifests = [file, *later]
        self.versions = {
            number: PolicyVersion(
                kind="use_case",
                subject=USE_CASE,
                version=number,
                digest=policy_digest(manifest.model_dump(mode="json")),
                document=manifest.model_dump(mode="json"),
                key_id="test-key",
                signature="c2lnbmVk",
                origin="api",
                proposed_by="ml-engineer",
                proposed_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            for number, manifest in enumerate(manifests, start=1)
        }
        self.head = PolicyHead(
            kind="use_case",
            subject=USE_CASE,
            active=1,
            latest=len(manifests),
            digests={version.digest: number for number, version in self.versions.items()},
        )

    def heads(self, kind: str) -> list[PolicyHead]:
        return [self.head] if kind == "use_case" else []

    def head_of(self, kind: str, subject: str) -> PolicyHead | None:
        return self.head

    def version(self, kind: str, subject: str, version: int) -> PolicyVersion | None:
        return self.versions.get(version)


class TwoModels:
    """Scores v1's artifact with the world's worker and any other artifact with a second one."""

    def __init__(self, first: LinearWorker, second: LinearWorker) -> None:
        self.first = first
        self.second = second

    def score(self, request, timeout_s):
        worker = self.first if request.artifact_digest != OTHER_DIGEST else self.second
        return worker.score(request, timeout_s)


def file_manifest(world: World) -> UseCaseManifest:
    return world.catalog.get(USE_CASE)


def with_decision(manifest: UseCaseManifest, **changes: object) -> UseCaseManifest:
    """`manifest` with its decision policy changed; validated as a registered version would be."""
    decision = manifest.decision.model_copy(update=changes)
    return UseCaseManifest.model_validate({**manifest.model_dump(), "decision": decision.model_dump()})


def replayer(world: World, *later: UseCaseManifest, workers: object | None = None) -> DecisionReplayer:
    catalog = world.catalog
    if later:
        policies = LivePolicies(Registry(file_manifest(world), *later), monotonic=world.clock.monotonic, ttl_s=0.0)
        catalog = ManifestCatalog.live(policies)
    return DecisionReplayer(
        catalog=catalog,
        records=Records(world),
        router=world.router,
        workers=workers or world.worker,
        telemetry=world.telemetry,
        clock=world.clock,
        deadline_margin_ms=50,
    )


def replay(world: World, decision_id: str, *later: UseCaseManifest, workers: object | None = None, **asked: object):
    """Replay `decision_id` as an auditor would; the report and the worker events it made."""
    audit = InvocationAudit(
        world.audit,
        world.clock,
        source="DecisionApiFunction",
        action="decision.replay",
        invocation_id=f"replay-{decision_id}",
        trace_id=TRACE,
    )
    calls: list = []
    service = replayer(world, *later, workers=workers)
    recorded = service.recorded(decision_id)
    assert recorded is not None
    report = service.replay(recorded, DecisionReplayRequest(**asked), audit, calls, remaining_ms=5_000)
    return report, calls


def approved(world: World, request_id: str = "r-1", **inputs: object) -> DecisionResponse:
    """A decision the model scores low (about 0.033): approved, far from the review band."""
    world.put_card("card-42", {"avg_amount_30d": 75.0, "txn_count_24h": 3, "home_country": "DE"})
    result, _ = decide(world, request_id, **inputs)
    assert result.response.outcome == "approved" and result.response.score is not None
    return result.response


def differing(report) -> dict[str, object]:
    return {difference.field: difference for difference in report.differences}


def test_a_decision_replayed_from_a_faithful_store_is_the_same_and_its_worker_call_is_audited() -> None:
    world = World()
    decision = approved(world)
    stored = dict(zip(world.worker.requests[0].feature_names, world.worker.requests[0].rows[0], strict=True))

    report, calls = replay(world, decision.decision_id)

    assert report.same and report.differences == []
    assert report.made_with.model == report.replayed_with.model == decision.model
    assert report.made_with.policy == decision.policy
    assert report.replayed.outcome == report.original.outcome == "approved"
    assert report.replayed.score == decision.score
    assert report.replayed.reason_codes == [reason.code for reason in decision.reasons]
    sent = world.worker.requests[-1]
    assert dict(zip(sent.feature_names, sent.rows[0], strict=True)) == stored
    [event] = calls
    assert (event.action, event.outcome, event.details["role"]) == ("worker.inference", "success", "replay")
    assert event.decision_id == decision.decision_id and event.artifact_digest == decision.model.artifact_digest


def test_a_policy_version_that_moves_the_review_band_names_the_move_and_where_the_score_falls() -> None:
    world = World()
    decision = approved(world)
    band = ReviewBand(low=0.02, high=0.9, outcome="review")
    wider = with_decision(file_manifest(world), review_band=band)

    report, _ = replay(world, decision.decision_id, wider, policy_version=2)

    assert not report.same
    assert report.replayed_with.policy == PolicyRef(version=2, digest=policy_digest(wider.model_dump(mode="json")))
    found = differing(report)
    assert set(found) == {"outcome", "review_required", "reason_codes"}
    outcome = found["outcome"]
    assert (outcome.original, outcome.replayed) == ("approved", "review")
    file = f"the bootstrap file (digest {decision.policy.digest[:12]})"
    assert outcome.why == (
        f"policy version 2 moves the review band to [0.02, 0.9) ({file}: [0.15, 0.4)); "
        f"score {decision.score:.3f} is in the review band [0.02, 0.9)"
    )
    assert found["review_required"].why == "review is the outcome of the review band of policy version 2"
    assert "added review_band; dropped below_threshold" in found["reason_codes"].why


def test_a_rule_that_holds_under_one_policy_and_not_the_other_is_named_and_no_model_is_asked() -> None:
    world = World()
    decision = approved(world)
    big = Rule(
        name="over_fifty",
        when=[Condition(field="amount", op="gt", value=50)],
        outcome="declined",
        reason="Amounts over 50 are declined.",
    )
    manifest = file_manifest(world)
    stricter = with_decision(manifest, rules=[*manifest.decision.rules, big])
    asked = len(world.worker.requests)

    report, calls = replay(world, decision.decision_id, stricter, policy_version=2)

    found = differing(report)
    file = f"the bootstrap file (digest {decision.policy.digest[:12]})"
    assert found["outcome"].why == f"rule over_fifty of policy version 2 holds, and {file} has no such rule"
    assert (found["score"].original, found["score"].replayed) == (decision.score, None)
    assert found["score"].why == "no model scored the replay: rule over_fifty decides it under policy version 2"
    assert report.replayed.reason_codes == ["over_fifty"] and report.replayed_with.model is None
    assert calls == [] and len(world.worker.requests) == asked


def test_a_rule_the_replayed_policy_drops_is_named_and_the_model_scores_the_decision_instead() -> None:
    world = World()
    world.put_card("card-42", {"avg_amount_30d": 75.0, "txn_count_24h": 3, "home_country": "DE"})
    result, _ = decide(world, amount=25_000.0)
    decision = result.response
    assert decision.reasons[0].code == "amount_over_limit" and decision.model is None
    manifest = file_manifest(world)
    lenient = with_decision(manifest, rules=[r for r in manifest.decision.rules if r.name != "amount_over_limit"])

    report, calls = replay(world, decision.decision_id, lenient, policy_version=2)

    found = differing(report)
    file = f"the bootstrap file (digest {decision.policy.digest[:12]})"
    score = report.replayed.score
    assert score is not None and len(calls) == 1
    assert found["outcome"].why.startswith(
        f"rule amount_over_limit decided under {file}, and policy version 2 has no rule amount_over_limit; "
        f"model card-fraud v1 (artifact {world.model.artifact_digest[:12]}) scores it {score:.3f}"
    )
    assert found["score"].why.startswith("no model scored the decision: rule amount_over_limit decided it")
    # No feature vector was stored (no model scored it): they are computed again from the stored inputs.
    assert "computed again under policy version 2" in found["score"].why


def test_another_model_version_is_named_with_its_artifact_and_what_its_score_does_to_the_outcome() -> None:
    world = World()
    decision = approved(world)
    names = world.model.feature_names
    second = LinearWorker([3.0 if name == "amount_to_avg" else 0.0 for name in names], bias=-2.5)
    challenger = ActiveModel("card-fraud", "v2", OTHER_DIGEST, names)
    world.router.traffic = world.plan(challenger, "shadow")

    report, calls = replay(world, decision.decision_id, workers=TwoModels(world.worker, second), model_version="v2")

    assert report.replayed_with.model == ModelRef(name="card-fraud", version="v2", artifact_digest=OTHER_DIGEST)
    found = differing(report)
    new = report.replayed.score
    assert new is not None and new > 0.6
    v1 = f"model card-fraud v1 (artifact {decision.model.artifact_digest[:12]})"
    v2 = f"model card-fraud v2 (artifact {OTHER_DIGEST[:12]})"
    assert found["score"].why == f"{v2} scored the stored features ({v1} scored the decision)"
    assert found["outcome"].why == (
        f"{v2} scores {new:.3f} (when it was made: {decision.score:.3f}); "
        f"score {new:.3f} is at or above the threshold 0.4"
    )
    assert calls[0].model_version == "v2" and calls[0].details["role"] == "replay"


def test_a_fallback_replayed_says_why_it_fell_back_and_what_the_model_says_now() -> None:
    world = World()
    world.put_card("card-42", {"avg_amount_30d": 75.0, "txn_count_24h": 3, "home_country": "DE"})
    world.worker.failure = WorkerTimeoutError("no answer within 0.2 s")
    result, _ = decide(world)
    decision = result.response
    assert decision.fallback and decision.outcome == "review"
    world.worker.failure = None

    report, _ = replay(world, decision.decision_id)

    found = differing(report)
    assert set(found) == {"outcome", "score", "review_required", "fallback", "reason_codes"}
    now = report.replayed.score
    assert now is not None
    model = f"model card-fraud v1 (artifact {world.model.artifact_digest[:12]})"
    assert found["fallback"].why == (
        f"the decision fell back ({decision.fallback_reason}); {model} scores it {now:.3f}, and "
        f"score {now:.3f} is below the threshold 0.4 under the bootstrap file (digest {decision.policy.digest[:12]})"
    )
    assert found["outcome"].why == found["fallback"].why
    assert (found["outcome"].original, found["outcome"].replayed) == ("review", "approved")


def test_a_fallback_for_an_unanswered_feature_store_replays_as_the_same_fallback() -> None:
    world = World()
    world.features.down = True
    result, _ = decide(world)
    assert result.response.fallback

    report, calls = replay(world, result.response.decision_id)

    assert report.same and calls == []
    assert report.replayed.fallback_reason is not None
    assert "recorded no online features" in report.replayed.fallback_reason


def test_a_model_failing_on_replay_is_a_difference_and_its_call_is_audited_as_an_error() -> None:
    world = World()
    decision = approved(world)
    world.worker.failure = WorkerTimeoutError("no answer within 5 s")

    report, calls = replay(world, decision.decision_id)

    fallback = differing(report)["fallback"]
    assert fallback.why == (
        "the replay fell back: model card-fraud@v1 failed: WorkerTimeoutError: no answer within 5 s"
    )
    assert [(event.outcome, event.details["role"]) for event in calls] == [("error", "replay")]


def test_unknown_versions_are_not_found_and_an_unknown_recorded_policy_must_be_named() -> None:
    world = World()
    decision = approved(world)
    with pytest.raises(NotFoundError, match="no policy version 7"):
        replay(world, decision.decision_id, policy_version=7)
    with pytest.raises(
        NotFoundError, match=r"'v9' neither scored decision .* nor serves 'card_fraud' now \(serving: v1\)"
    ):
        replay(world, decision.decision_id, model_version="v9")
    unknown = decision.model_copy(update={"policy": PolicyRef(version=4, digest="ef" * 32)})
    world.audit.decisions[decision.decision_id] = unknown
    with pytest.raises(ConflictError, match="neither registered nor the bootstrap file: name a policy version"):
        replay(world, decision.decision_id)


def side(evaluation: Evaluation, manifest: UseCaseManifest, *, version: int, model: ModelRef | None = None) -> Side:
    ref = PolicyRef(version=version, digest=f"{version}" * 64)
    return Side(ref, manifest, model, evaluation)


def scored(outcome: str, score: float, threshold: str, codes: tuple[str, ...] = ("below_threshold",)) -> Evaluation:
    return Evaluation(outcome, score, outcome == "review", None, codes, threshold=threshold)


def test_a_policy_and_a_model_change_together_say_what_each_alone_would_give() -> None:
    manifest = World().catalog.get(USE_CASE)
    higher = with_decision(manifest, threshold=0.7, review_band=ReviewBand(low=0.3, high=0.7, outcome="review"))
    v1 = ModelRef(name="card-fraud", version="v1", artifact_digest="ab" * 32)
    v2 = ModelRef(name="card-fraud", version="v2", artifact_digest="cd" * 32)
    before = side(
        scored("declined", 0.5, "score 0.500 is at or above the threshold 0.4"), manifest, version=1, model=v1
    )
    after = side(scored("approved", 0.2, "score 0.200 is below the threshold 0.7"), higher, version=2, model=v2)

    [outcome, score] = differences(before, after)[:2]

    assert outcome.why == (
        "policy version 2 sets the threshold to 0.7 (version 1: 0.4), moves the review band to [0.3, 0.7) "
        "(version 1: [0.15, 0.4)); model card-fraud v2 (artifact cdcdcdcdcdcd) scores 0.200 (when it was made: "
        "0.500); score 0.200 is below the threshold 0.7; the policy change alone gives review, the new score alone "
        "review"
    )
    assert score.why == (
        "model card-fraud v2 (artifact cdcdcdcdcdcd) scored the stored features "
        "(model card-fraud v1 (artifact abababababab) scored the decision)"
    )


def test_the_same_artifact_answering_another_score_for_the_same_features_is_called_out() -> None:
    manifest = World().catalog.get(USE_CASE)
    v1 = ModelRef(name="card-fraud", version="v1", artifact_digest="ab" * 32)
    before = side(scored("approved", 0.1, "score 0.100 is below the threshold 0.4"), manifest, version=1, model=v1)
    after = side(scored("approved", 0.12, "score 0.120 is below the threshold 0.4"), manifest, version=1, model=v1)

    [score] = differences(before, after)

    assert score.field == "score" and "answered another score for the same features" in score.why


def test_scores_within_the_tolerance_are_the_same_score() -> None:
    manifest = World().catalog.get(USE_CASE)
    before = side(scored("approved", 0.1, "m"), manifest, version=1)
    after = side(scored("approved", 0.1 + 1e-9, "m"), manifest, version=1)
    assert differences(before, after) == []


def test_policy_changes_name_every_change_of_how_a_score_becomes_an_outcome() -> None:
    manifest = World().catalog.get(USE_CASE)
    before = manifest.decision
    assert policy_changes(before, before, "version 1") == []
    unbanded = before.model_copy(update={"review_band": None, "positive_outcome": "review"})
    assert policy_changes(before, unbanded, "version 1") == [
        "drops the review band (version 1: [0.15, 0.4))",
        "gives review at or above the threshold (version 1: declined)",
    ]
    assert policy_changes(unbanded, before, "version 2")[0] == "adds the review band [0.15, 0.4) (version 2 has none)"


def test_the_recorded_side_reads_its_rule_and_threshold_from_the_reasons() -> None:
    decision = DecisionResponse(
        decision_id="d",
        request_id="r",
        use_case=USE_CASE,
        outcome="review",
        score=None,
        reasons=[Reason(kind="rule", code="amount_over_limit", message="Amounts over 20,000 EUR are reviewed.")],
        model=None,
        fallback=False,
        review_required=True,
        trace_id=TRACE,
        decided_at=datetime(2026, 1, 1, tzinfo=UTC),
        latency_ms=1.0,
    )
    evaluation = recorded_evaluation(decision)
    assert (evaluation.rule, evaluation.threshold, evaluation.reason_codes) == (
        "amount_over_limit",
        None,
        ("amount_over_limit",),
    )


KEYS = {
    "auditor-key": Principal("audit-team", "auditor"),
    "engineer-key": Principal("ml-team", "ml_engineer"),
    "client-key": Principal("checkout-service", "decision_client"),
    "elsewhere-key": Principal("loan-audit", "auditor", use_cases=frozenset({"loan_limits"})),
}


def replay_api(world: World) -> DecisionReplayApi:
    api = DecisionReplayApi(
        replayer=replayer(world),
        gate=HttpGate(
            keys=MemoryKeys(KEYS),
            audit_log=world.audit,
            telemetry=world.telemetry,
            clock=world.clock,
            max_body_bytes=4096,
            source="DecisionApiFunction",
        ),
    )
    return cast("DecisionReplayApi", Documented(api, lambda: world.audit.events))


def post(api: DecisionReplayApi, decision_id: str, key: str, body: bytes = b"", invocation: str = "inv-replay"):
    headers = {"x-api-key": key, **({"content-type": "application/json"} if body else {})}
    return api.replay(decision_id, body, Invocation(invocation_id=invocation, headers=headers, remaining_ms=3000))


def test_the_replay_route_answers_the_report_and_audits_the_replay_beside_its_worker_call() -> None:
    world = World()
    decision = approved(world)
    api = replay_api(world)

    answer = post(api, decision.decision_id, "auditor-key")
    engineer = post(api, decision.decision_id, "engineer-key", b'{"model_version": null}', "inv-engineer")

    assert answer.status == engineer.status == 200
    assert answer.body["same"] is True and answer.body["decision_id"] == decision.decision_id
    [event] = [e for e in world.audit.events if e.invocation_id == "inv-replay" and e.action == "decision.replay"]
    assert (event.principal, event.outcome, event.status_code, event.decision_id) == (
        "audit-team",
        "success",
        200,
        decision.decision_id,
    )
    assert event.details["same"] is True and event.details["differences"] == []
    assert event.details["policy_digest"] == decision.policy.digest
    [call] = [e for e in world.audit.events if e.invocation_id == "inv-replay" and e.action == "worker.inference"]
    assert call.details == {
        "caller_invocation": "inv-replay",
        "caller": "DecisionApiFunction",
        "role": "replay",
        "score": decision.score,
    }


def test_the_replay_route_refuses_as_the_access_policy_says_and_names_bad_versions() -> None:
    world = World()
    decision = approved(world)
    api = replay_api(world)

    refused = post(api, decision.decision_id, "client-key", invocation="inv-client")
    elsewhere = post(api, decision.decision_id, "elsewhere-key", invocation="inv-elsewhere")
    unknown = post(api, "no-such-decision", "auditor-key", invocation="inv-unknown")
    invalid = post(api, decision.decision_id, "auditor-key", b'{"policy_version": 0}', "inv-invalid")
    missing = post(api, decision.decision_id, "auditor-key", b'{"policy_version": 9}', "inv-missing")

    assert (refused.status, refused.body["error"]) == (403, "forbidden")
    # Out of the key's scope is answered as a decision that does not exist.
    assert (
        (elsewhere.status, elsewhere.body["error"])
        == (unknown.status, unknown.body["error"])
        == (
            404,
            "unknown_decision",
        )
    )
    assert elsewhere.body["message"] == unknown.body["message"].replace("no-such-decision", decision.decision_id)
    assert (invalid.status, invalid.body["fields"][0]["field"]) == (422, "policy_version")
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    assert "no policy version 9" in missing.body["message"]
