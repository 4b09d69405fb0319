"""The model lifecycle on the embedded default: jobs over HTTP, the training queue, signed versions in S3,
traffic policies on live decisions, and the promotion controller rolling back a worse challenger."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import TYPE_CHECKING

import boto3
import pytest

from contracts.model.v1 import SignedManifest, TrafficPolicy
from embedded.cli import main
from embedded.clients.http import Sent, send
from embedded.demos.traffic import decision_request
from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from gpu_workers.inference.signatures import load_public_keys, verify_manifest
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

USE_CASE = "card_fraud"
MODEL = "card-fraud"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    options = WorldOptions(
        state_dir=tmp_path_factory.mktemp("lifecycle"),
        stack_name="e2e-lifecycle",
        router_cache_s=0.0,
        run_schedules=False,
    )
    with LocalWorld(options) as running:
        running.train(rows=6_000)
        running.seed(CardFraudGenerator(running.manifest, seed=99).cards(200))
        decide(running, 10, "warm-up", seed=4)
        yield running


def decide(world: LocalWorld, count: int, prefix: str, *, seed: int = 5) -> list[dict[str, object]]:
    """`count` decisions over HTTP on seeded cards, outside the rules (so the model decides); each answer
    carries the card it was for under `card`."""
    cards = CardFraudGenerator(world.manifest, seed=99).cards(200)
    generator = CardFraudGenerator(world.manifest, seed=seed)
    key = world.api_keys["decision_client"]
    answers = []
    for index, transaction in enumerate(generator.transactions(count, cards)):
        inputs = {**transaction.inputs, "country": "DE", "amount": min(float(transaction.inputs["amount"]), 5000.0)}
        answer = send(world.running.api_url, decision_request(USE_CASE, f"{prefix}-{index}", inputs, key))
        assert answer.status == 200, answer.body
        answers.append({**answer.body, "card": inputs["card_id"]})
    return answers


def version(answer: dict[str, object]) -> str:
    model = answer["model"]
    assert isinstance(model, dict)
    return str(model["version"])


def put_traffic(world: LocalWorld, body: dict[str, object], *, expect: int = 200) -> dict[str, object]:
    return world.call("PUT", f"/v1/use-cases/{USE_CASE}/traffic", "ml_engineer", body, expect=expect)


def traffic(world: LocalWorld) -> TrafficPolicy:
    return TrafficPolicy.model_validate(world.call("GET", f"/v1/use-cases/{USE_CASE}/traffic", "ml_engineer"))


def snapshot_id(world: LocalWorld) -> str:
    assert world.training_snapshot is not None
    return world.training_snapshot.snapshot_id


def test_a_training_job_over_http_runs_on_the_queue_and_publishes_a_signed_version_to_s3(world: LocalWorld) -> None:
    job = world.run_training_job(
        snapshot_id(world), family="gradient_boosted_trees", params={"n_estimators": 60}, version="gbt-1"
    )
    assert (job.state, job.stage, job.progress) == ("succeeded", "done", 1.0), job.message
    view = world.version("gbt-1")
    manifest = view.manifest
    assert manifest.status == "approved" and manifest.family == "gradient_boosted_trees"
    signed = SignedManifest(manifest=manifest, key_id=view.key_id, signature=view.signature)
    assert verify_manifest(signed, load_public_keys([world.signer.public_key_b64])) == manifest
    assert manifest.lineage.snapshot_sha256 == world.training_snapshot.content_sha256  # type: ignore[union-attr]
    s3 = boto3.client("s3", endpoint_url=world.running.endpoint_url)
    bucket = world.running.bucket_name("ArtifactsBucket")
    artifact = s3.get_object(Bucket=bucket, Key=manifest.artifact_key)["Body"].read()
    assert hashlib.sha256(artifact).hexdigest() == manifest.artifact_digest
    stored = s3.get_object(Bucket=bucket, Key=f"models/{MODEL}/gbt-1/manifest.json")["Body"].read()
    assert SignedManifest.model_validate_json(stored).manifest == manifest
    sources = {(e.source, e.action, e.outcome) for e in world.audit_log.events(AuditQuery(since=job.created_at))}
    assert {
        ("LifecycleApiFunction", "model.training_job.create", "success"),
        ("TrainingQueueFunction", "model.training_job.run", "success"),
        ("worker:leaim-training", "worker.training", "success"),
    } <= sources


def test_bad_training_requests_get_a_4xx_naming_the_problem(world: LocalWorld) -> None:
    path = f"/v1/models/{MODEL}/training-jobs"
    missing = world.call("POST", path, "ml_engineer", {"snapshot_id": "no-such-snapshot"}, expect=404)
    assert "no-such-snapshot" in missing["message"]
    family = world.call("POST", path, "ml_engineer", {"snapshot_id": snapshot_id(world), "family": "svm"}, expect=422)
    assert family["fields"][0]["field"] == "family"
    params = {"snapshot_id": snapshot_id(world), "params": {"C": 0, "max_iter": 5}}
    ranges = world.call("POST", path, "ml_engineer", params, expect=422)
    assert [f["field"] for f in ranges["fields"]] == ["params", "params"]
    again = world.call("POST", path, "ml_engineer", {"snapshot_id": snapshot_id(world), "version": "v1"}, expect=409)
    assert again["error"] == "model_version_exists"
    world.call("POST", path, "decision_client", {"snapshot_id": snapshot_id(world)}, expect=403)


def test_shadow_then_canary_route_live_decisions_as_declared(world: LocalWorld) -> None:
    job = world.run_training_job(snapshot_id(world), version="lr-2", params={"C": 0.5, "max_iter": 300})
    assert job.state == "succeeded", job.message
    put_traffic(world, {"version": "lr-2", "policy": "shadow", "reason": "compare on live traffic"})
    # A decision the champion could not make in its budget falls back; the challenger never decides.
    shadowed = [a for a in decide(world, 20, "shadow", seed=10) if not a["fallback"]]
    assert len(shadowed) >= 15 and {version(a) for a in shadowed} == {"v1"}
    for answer in shadowed:
        roles = {
            e.details["role"]: e.model_version
            for e in world.audit_log.events(AuditQuery(decision_id=str(answer["decision_id"])))
            if e.action == "worker.inference"
        }
        assert roles == {"champion": "v1", "shadow": "lr-2"}

    put_traffic(world, {"version": "lr-2", "policy": "canary", "canary_percent": 50})
    served: dict[str, set[str]] = {}
    for answer in decide(world, 80, "canary-a") + decide(world, 80, "canary-b"):
        if not answer["fallback"]:
            served.setdefault(str(answer["card"]), set()).add(version(answer))
    assert all(len(versions) == 1 for versions in served.values()), "a card moved between versions"
    assert set().union(*served.values()) == {"v1", "lr-2"}

    world.call("POST", f"/v1/use-cases/{USE_CASE}/rollback", "ml_engineer", {"reason": "done comparing"})
    assert traffic(world).challenger is None
    assert {version(a) for a in decide(world, 10, "full", seed=9) if not a["fallback"]} == {"v1"}


def test_the_controller_rolls_back_a_challenger_whose_artifact_was_tampered(world: LocalWorld) -> None:
    # The job deploys its version in shadow itself; the workers' copy of its artifact is tampered with afterwards.
    job = world.run_training_job(snapshot_id(world), version="tampered-3", deploy="shadow")
    assert job.state == "succeeded", job.message
    assert traffic(world).challenger == "tampered-3"
    digest = world.version("tampered-3").manifest.artifact_digest
    artifact = world.state_dir / "artifacts" / f"{digest}.onnx"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    artifact.write_bytes(bytes(data))

    # A promotion verifies first: no worker loads the tampered artifact, so the version cannot become champion.
    refused = put_traffic(world, {"version": "tampered-3", "policy": "full"}, expect=409)
    assert refused["error"] == "version_unverified" and "ArtifactVerificationError" in refused["message"]
    assert traffic(world).champion == "v1"
    answers = decide(world, 55, "tampered", seed=6)
    assert {version(a) for a in answers if not a["fallback"]} == {"v1"}
    refused = [
        e
        for a in answers
        for e in world.audit_log.events(AuditQuery(decision_id=str(a["decision_id"])))
        if e.details.get("role") == "shadow"
    ]
    assert len(refused) == 55 and all(e.outcome == "error" for e in refused)
    assert "ArtifactVerificationError" in (refused[0].error or "")

    result = world.run_schedule("PromotionControllerFunction")
    decision = next(d for d in result["decisions"] if d["use_case"] == USE_CASE)
    assert decision["action"] == "rollback", decision
    policy = traffic(world)
    assert policy.challenger is None and policy.champion == "v1" and policy.updated_by == "controller:promotion"
    run = world.audit_log.events(AuditQuery(source="PromotionControllerFunction"))[-1]
    assert run.principal == "controller:promotion" and run.outcome == "success"
    assert any("rollback" in change for change in run.details["changes"])


def test_the_controller_advances_a_healthy_shadow_to_canary(world: LocalWorld) -> None:
    job = world.run_training_job(snapshot_id(world), version="healthy-4", params={"C": 2.0, "max_iter": 200})
    assert job.state == "succeeded", job.message
    put_traffic(world, {"version": "healthy-4", "policy": "shadow"})
    decide(world, 55, "healthy", seed=8)
    result = world.run_schedule("PromotionControllerFunction")
    decision = next(d for d in result["decisions"] if d["use_case"] == USE_CASE)
    assert decision["action"] == "advance", decision
    policy = traffic(world)
    assert (policy.challenger, policy.policy, policy.canary_percent) == ("healthy-4", "canary", 10.0)
    world.call("POST", f"/v1/use-cases/{USE_CASE}/rollback", "ml_engineer", {})


def test_two_racing_promotions_one_wins_and_the_other_gets_409(world: LocalWorld) -> None:
    revision = traffic(world).revision
    key = world.api_keys["ml_engineer"]
    answers: list[tuple[str, int]] = []
    start = threading.Barrier(2)

    def promote(version: str) -> None:
        body = json.dumps({"version": version, "policy": "shadow", "expected_revision": revision}).encode()
        path = f"/v1/use-cases/{USE_CASE}/traffic"
        start.wait()
        answer = send(world.running.api_url, Sent(path, "PUT", path, body, {"x-api-key": key}), 30)
        answers.append((version, answer.status))

    threads = [threading.Thread(target=promote, args=(version,)) for version in ("lr-2", "healthy-4")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for _, status in answers) == [200, 409]
    winner = next(version for version, status in answers if status == 200)
    policy = traffic(world)
    assert (policy.challenger, policy.policy, policy.revision) == (winner, "shadow", revision + 1)
    world.call("POST", f"/v1/use-cases/{USE_CASE}/rollback", "ml_engineer", {})


def test_rejected_versions_cannot_be_promoted(world: LocalWorld) -> None:
    job = world.run_training_job(snapshot_id(world), version="weak-5", params={"C": 1e-6, "max_iter": 10})
    assert job.state == "rejected" and job.reasons
    refused = put_traffic(world, {"version": "weak-5", "policy": "full"}, expect=409)
    assert refused["error"] == "version_rejected"


def test_leaim_train_shows_progress_and_the_gates(
    world: LocalWorld, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), "train", "--snapshot", snapshot_id(world), "--version", "cli-6"])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    assert "succeeded" in out and "disparate_impact:cardholder_age_band" in out and "cli-6" in out
    with pytest.raises(SystemExit) as exited:
        main(["--state-dir", str(world.state_dir), "train", "--snapshot", "nope"])
    assert exited.value.code == 2
    assert "404" in capsys.readouterr().err
