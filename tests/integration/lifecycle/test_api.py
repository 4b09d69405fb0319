"""The lifecycle API over a real registry and the real trainer: who may call, what each problem answers,
and exactly one audit event per invocation, naming its principal (and, for traffic, the policy before and after);
a traffic change verifies the version as stored, and as a real worker process loads it, first.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from contracts.model.v1 import SignedManifest
from embedded.emulation.workers import LocalWorkerPool
from gpu_workers.inference.signatures import load_public_keys, verify_manifest
from leaim.domain.clock import SystemClock
from leaim.governance.access.gate import HttpGate, Invocation
from leaim.governance.ports import Principal
from leaim.lifecycle.api import LifecycleApi
from leaim.lifecycle.promotion import PromotionService, VersionVerifier
from leaim.lifecycle.stops import StopService
from leaim.lifecycle.training import manifest_key
from leaim.serving.loading import WorkerModelLoader
from leaim.serving.workers import LocalWorkerClient
from tests.integration.lifecycle.test_promotion import release
from tests.integration.lifecycle.test_training_jobs import DATASET, Lab
from tests.support.fakes import TRACE, MemoryAuditLog, MemoryKeys, MemoryStops, StaticTelemetry
from tests.support.openapi import assert_documented

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.audit.v1 import AuditEvent
    from leaim.governance.access.gate import HttpAnswer
    from leaim.lifecycle.ports import ModelLoader

SOURCE = "LifecycleApiFunction"
MODEL = "card-fraud"
USE_CASE = "card_fraud"
KEYS = {
    "ml-key": Principal("fraud-ml", "ml_engineer"),
    "risk-ml-key": Principal("risk-ml", "ml_engineer"),
    "auditor-key": Principal("audit-team", "auditor"),
    "client-key": Principal("checkout-service", "decision_client"),
    "risk-owner-key": Principal("fraud-risk", "risk_owner"),
}
REJECTED_REASON = "auc 0.5 is below the minimum 0.7"


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer and the one audit event its invocation stored."""

    status: int
    body: dict[str, Any]
    event: AuditEvent


class Desk:
    """The lifecycle API over a Lab, called as each route would call it, one fresh invocation per call."""

    def __init__(self, lab: Lab, loader: ModelLoader | None = None) -> None:
        self.lab = lab
        self.audit = MemoryAuditLog()
        verifier = VersionVerifier(artifacts=lab.data.objects, verifies=lab.signer.verifies, loader=loader)
        self.switch = MemoryStops()
        self.api = LifecycleApi(
            jobs=lab.jobs,
            promotions=PromotionService(registry=lab.registry, manifests=lab.data.manifests, verifier=verifier),
            registry=lab.registry,
            stops=StopService(switch=self.switch, manifests=lab.data.manifests, clock=lab.data.clock),
            gate=HttpGate(
                keys=MemoryKeys(KEYS),
                audit_log=self.audit,
                telemetry=StaticTelemetry(),
                clock=lab.data.clock,
                max_body_bytes=64 * 1024,
                source=SOURCE,
            ),
        )

    def train(self, body: object, *, model: str = MODEL, key: str | None = "ml-key") -> Reply:
        return self._invoke(lambda inv: self.api.create_training_job(model, _raw(body), inv), key)

    def job(self, job_id: str, *, key: str | None = "ml-key") -> Reply:
        return self._invoke(lambda inv: self.api.read_training_job(job_id, inv), key)

    def models(self, *, key: str | None = "ml-key") -> Reply:
        return self._invoke(self.api.list_models, key)

    def version(self, version: str, *, model: str = MODEL, key: str | None = "ml-key") -> Reply:
        return self._invoke(lambda inv: self.api.read_version(model, version, inv), key)

    def traffic(self, *, key: str | None = "auditor-key") -> Reply:
        return self._invoke(lambda inv: self.api.read_traffic(USE_CASE, inv), key)

    def change(self, body: object, *, use_case: str = USE_CASE, key: str | None = "ml-key") -> Reply:
        return self._invoke(lambda inv: self.api.change_traffic(use_case, _raw(body), inv), key)

    def rollback(self, body: object = b"", *, use_case: str = USE_CASE, key: str | None = "ml-key") -> Reply:
        return self._invoke(lambda inv: self.api.rollback(use_case, _raw(body), inv), key)

    def stop_state(self, *, use_case: str = USE_CASE, key: str | None = "auditor-key") -> Reply:
        return self._invoke(lambda inv: self.api.read_stop(use_case, inv), key)

    def stop(self, body: object, *, use_case: str = USE_CASE, key: str | None = "risk-owner-key") -> Reply:
        return self._invoke(lambda inv: self.api.stop(use_case, _raw(body), inv), key)

    def resume(self, body: object, *, use_case: str = USE_CASE, key: str | None = "risk-owner-key") -> Reply:
        return self._invoke(lambda inv: self.api.resume(use_case, _raw(body), inv), key)

    def retrain(self, body: object, *, use_case: str = USE_CASE, key: str | None = "ml-key") -> Reply:
        return self._invoke(lambda inv: self.api.request_retraining(use_case, _raw(body), inv), key)

    def publish(self, *versions: str, **overrides: Any) -> None:
        """Publish card-fraud versions signed with the lab's key, their artifacts stored, without training them."""
        for version in versions:
            release(self.lab.registry, self.lab.data.objects, version, self.lab.signer, **overrides)

    def _invoke(self, route: Callable[[Invocation], HttpAnswer], key: str | None) -> Reply:
        invocation = Invocation(invocation_id=uuid.uuid4().hex, headers={"x-api-key": key} if key else {})
        answer = route(invocation)
        events = [event for event in self.audit.events if event.invocation_id == invocation.invocation_id]
        assert len(events) == 1, events
        [event] = events
        assert_documented(answer, event)
        principal = KEYS.get(key or "")
        assert (event.source, event.status_code, event.trace_id) == (SOURCE, answer.status, TRACE)
        assert (event.principal, event.role) == ((principal.name, principal.role) if principal else (None, None))
        return Reply(answer.status, answer.body, event)


def _raw(body: object) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def succeeded(reply: Reply, status: int = 200) -> dict[str, Any]:
    """The body of a successful answer, after checking its status and its event's outcome."""
    assert reply.status == status, reply.body
    assert (reply.event.outcome, reply.event.error) == ("success", None)
    return reply.body


def refused(reply: Reply, status: int, error: str, fields: list[str] | None = None) -> dict[str, Any]:
    """The ErrorResponse of a refused call, after checking its code, its offending fields and its event."""
    fields = fields or []
    assert (reply.status, reply.body["error"]) == (status, error), reply.body
    assert [field["field"] for field in reply.body["fields"]] == fields
    assert reply.body["trace_id"] == TRACE
    event = reply.event
    assert event.outcome == "rejected" and (event.error or "").startswith(f"{error}: ")
    assert [field["field"] for field in event.details["fields"]] == fields
    return reply.body


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return Desk(Lab(engine, tmp_path))


def test_a_queued_job_is_read_back_after_it_ran_with_its_signed_version(desk: Desk) -> None:
    snapshot = desk.lab.snapshot.snapshot_id
    queued = desk.train({"snapshot_id": snapshot, "deploy": "shadow"})
    job = succeeded(queued, 202)
    assert (job["state"], job["stage"], job["progress"], job["version"]) == ("queued", "queued", 0.0, "v1")
    assert (job["model_name"], job["use_case"], job["snapshot_id"], job["family"]) == (
        MODEL,
        USE_CASE,
        snapshot,
        "logistic_regression",
    )
    assert (job["requested_by"], job["trigger"], job["deploy"]) == ("fraud-ml", "person", "shadow")
    assert desk.lab.queue.sent == [job["job_id"]]
    event = queued.event
    assert (event.action, event.use_case, event.model_name, event.model_version) == (
        "model.training_job.create",
        USE_CASE,
        MODEL,
        "v1",
    )
    assert (event.details["job_id"], event.details["snapshot_id"]) == (job["job_id"], snapshot)

    desk.lab.jobs.run(job["job_id"], remaining_ms=600_000, principal="queue:training")
    read = desk.job(job["job_id"], key="auditor-key")
    done = succeeded(read)
    assert (done["state"], done["stage"], done["progress"]) == ("succeeded", "done", 1.0), done["message"]
    assert read.event.action == "model.training_job.read"
    assert read.event.details == {"job_id": job["job_id"], "state": "succeeded"}

    viewed = desk.version("v1", key="auditor-key")
    view = succeeded(viewed)
    assert view["aliases"] == ["champion"]
    assert view["key_id"] == desk.lab.signer.key_id
    signed = SignedManifest(manifest=view["manifest"], key_id=view["key_id"], signature=view["signature"])
    assert verify_manifest(signed, load_public_keys([desk.lab.signer.public_key_b64])) == signed.manifest
    assert signed == desk.lab.registry.get(MODEL, "v1")
    assert signed.manifest.lineage.training_job_id == job["job_id"]
    assert (viewed.event.action, viewed.event.artifact_digest) == (
        "model.version.read",
        signed.manifest.artifact_digest,
    )


def test_a_job_request_that_cannot_be_trained_is_refused_naming_the_problem(desk: Desk) -> None:
    snapshot = desk.lab.snapshot.snapshot_id
    unknown_model = refused(desk.train({"snapshot_id": snapshot}, model="nope"), 404, "not_found")
    assert "'nope'" in unknown_model["message"]
    unknown_snapshot = refused(desk.train({"snapshot_id": "no-such-snapshot"}), 404, "not_found")
    assert "'no-such-snapshot'" in unknown_snapshot["message"]
    family = refused(
        desk.train({"snapshot_id": snapshot, "family": "random_forest"}), 422, "invalid_request", ["family"]
    )
    assert "unknown model family 'random_forest'" in family["fields"][0]["message"]
    params = refused(desk.train({"snapshot_id": snapshot, "params": {"C": -1}}), 422, "invalid_request", ["params"])
    assert "param C must be in" in params["fields"][0]["message"]
    wrong_family = desk.train({"snapshot_id": snapshot, "family": "gradient_boosted_trees", "params": {"C": 1.0}})
    assert "param 'C'" in refused(wrong_family, 422, "invalid_request", ["params"])["fields"][0]["message"]
    refused(desk.train(b'{"snapshot_id": '), 400, "malformed_json", ["body"])
    refused(desk.train({"snapshot_id": snapshot, "epochs": 3}), 422, "invalid_request", ["epochs"])
    refused(desk.train(b""), 422, "invalid_request", ["snapshot_id"])
    assert desk.lab.queue.sent == []
    assert desk.lab.registry.next_version(MODEL) == "v1"


def test_a_published_version_is_never_trained_again(desk: Desk) -> None:
    desk.publish("2026-11-a")
    body = refused(
        desk.train({"snapshot_id": desk.lab.snapshot.snapshot_id, "version": "2026-11-a"}),
        409,
        "model_version_exists",
    )
    assert "2026-11-a" in body["message"] and "immutable" in body["message"]
    assert desk.lab.queue.sent == []


def test_only_callers_with_the_right_role_reach_the_models(desk: Desk) -> None:
    desk.publish("v1", "v2")
    snapshot = {"snapshot_id": desk.lab.snapshot.snapshot_id}
    for key in (None, "forged-key"):
        refused(desk.train(snapshot, key=key), 401, "unauthorized")
        refused(desk.models(key=key), 401, "unauthorized")
    for key in ("client-key", "auditor-key"):
        assert "models:train" in refused(desk.train(snapshot, key=key), 403, "forbidden")["message"]
        refused(desk.retrain({"reason": "drift"}, key=key), 403, "forbidden")
        refused(desk.change({"version": "v1", "policy": "full"}, key=key), 403, "forbidden")
        refused(desk.rollback(key=key), 403, "forbidden")
    for read in (desk.models, lambda key: desk.version("v1", key=key), desk.traffic):
        assert "models:read" in refused(read(key="client-key"), 403, "forbidden")["message"]
    assert succeeded(desk.models(key="auditor-key"))["models"][0]["versions"] == 2
    assert desk.lab.queue.sent == [] and desk.lab.registry.traffic(USE_CASE) is None


def test_an_unknown_job_or_version_is_not_found(desk: Desk) -> None:
    desk.publish("v1")
    assert "'no-such-job'" in refused(desk.job("no-such-job"), 404, "not_found")["message"]
    assert "'v9'" in refused(desk.version("v9"), 404, "not_found")["message"]
    refused(desk.version("v1", model="nope"), 404, "not_found")


def test_models_are_listed_with_their_counts_and_aliases(desk: Desk) -> None:
    desk.publish("v1", "v2", "v3")
    desk.publish("v4", status="rejected", reasons=[REJECTED_REASON])
    succeeded(desk.change({"version": "v1", "policy": "full"}))
    succeeded(desk.change({"version": "v2", "policy": "canary", "canary_percent": 20}))
    listed = desk.models(key="auditor-key")
    assert succeeded(listed)["models"] == [
        {
            "model_name": MODEL,
            "use_case": USE_CASE,
            "family": "logistic_regression",
            "versions": 4,
            "approved": 3,
            "rejected": 1,
            "champion": "v1",
            "challenger": "v2",
            "latest_version": "v4",
        }
    ]
    assert (listed.event.action, listed.event.details) == ("model.list", {"listed": 1})
    aliases = {version: succeeded(desk.version(version))["aliases"] for version in ("v1", "v2", "v3", "v4")}
    assert aliases == {"v1": ["champion"], "v2": ["challenger"], "v3": [], "v4": []}
    rejected = desk.version("v4")
    assert rejected.body["manifest"]["reasons"] == [REJECTED_REASON]
    assert rejected.event.details == {"status": "rejected"}


def test_full_makes_a_champion_and_shadow_or_canary_a_challenger(desk: Desk) -> None:
    desk.publish("v1", "v2", "v3")
    first = desk.change({"version": "v1", "policy": "full", "reason": "first model"})
    policy = succeeded(first)
    assert (policy["champion"], policy["challenger"], policy["revision"], policy["updated_by"]) == (
        "v1",
        None,
        1,
        "fraud-ml",
    )
    event = first.event
    assert (event.action, event.use_case, event.model_name, event.model_version) == (
        "model.traffic.change",
        USE_CASE,
        MODEL,
        "v1",
    )
    assert event.details == {"change": "set full", "reason": "first model", "before": None, "after": policy}

    shadow = desk.change({"version": "v2", "policy": "shadow", "expected_revision": 1}, key="risk-ml-key")
    challenged = succeeded(shadow)
    assert (challenged["champion"], challenged["challenger"], challenged["policy"]) == ("v1", "v2", "shadow")
    assert (challenged["canary_percent"], challenged["revision"], challenged["updated_by"]) == (0.0, 2, "risk-ml")
    assert shadow.event.details["before"] == policy and shadow.event.details["after"] == challenged

    canary = desk.change({"version": "v3", "policy": "canary", "canary_percent": 25, "expected_revision": 2})
    replaced = succeeded(canary)
    assert (replaced["champion"], replaced["challenger"], replaced["policy"]) == ("v1", "v3", "canary")
    assert (replaced["canary_percent"], replaced["revision"]) == (25.0, 3)
    assert canary.event.details["before"] == challenged and canary.event.details["change"] == "set canary"

    promoted = succeeded(desk.change({"version": "v3", "policy": "full"}))
    assert (promoted["champion"], promoted["previous_champion"], promoted["challenger"]) == ("v3", "v1", None)
    read = desk.traffic()
    assert succeeded(read) == promoted and read.event.action == "model.traffic.read"


def test_traffic_changes_the_policy_does_not_allow_are_refused(desk: Desk) -> None:
    desk.publish("v1", "v2")
    desk.publish("v4", status="rejected", reasons=[REJECTED_REASON])
    no_champion = refused(desk.change({"version": "v2", "policy": "shadow"}), 409, "traffic_change")
    assert "no champion" in no_champion["message"]
    assert "v4" in refused(desk.change({"version": "v4", "policy": "full"}), 409, "version_rejected")["message"]
    refused(desk.change({"version": "v4", "policy": "canary"}), 409, "version_rejected")
    assert desk.lab.registry.traffic(USE_CASE) is None

    before = succeeded(desk.change({"version": "v1", "policy": "full"}))
    stale = desk.change({"version": "v2", "policy": "shadow", "expected_revision": 0})
    assert "revision 1, not 0" in refused(stale, 409, "revision_conflict")["message"]
    assert "'v9'" in refused(desk.change({"version": "v9", "policy": "full"}), 404, "not_found")["message"]
    unknown = desk.change({"version": "v1", "policy": "full"}, use_case="mortgage")
    assert "'mortgage'" in refused(unknown, 404, "not_found")["message"]
    refused(desk.change({"version": "v2", "policy": "blue"}), 422, "invalid_request", ["policy"])
    refused(
        desk.change({"version": "v2", "policy": "canary", "canary_percent": 150}),
        422,
        "invalid_request",
        ["canary_percent"],
    )
    refused(desk.change({"version": "v2"}), 422, "invalid_request", ["policy"])
    refused(desk.change(b"{"), 400, "malformed_json", ["body"])
    assert succeeded(desk.traffic()) == before


def test_two_changes_from_the_same_revision_store_exactly_one_of_them_whole(desk: Desk) -> None:
    desk.publish("v1", "v2", "v3")
    succeeded(desk.change({"version": "v1", "policy": "full"}))
    racers = {
        "ml-key": ({"version": "v2", "policy": "shadow"}, ("v2", "shadow", 0.0, "fraud-ml")),
        "risk-ml-key": ({"version": "v3", "policy": "canary", "canary_percent": 30}, ("v3", "canary", 30.0, "risk-ml")),
    }
    for _ in range(3):
        revision = succeeded(desk.traffic())["revision"]
        start = threading.Barrier(len(racers))

        def put(key: str, revision: int = revision, start: threading.Barrier = start) -> Reply:
            change, _ = racers[key]
            start.wait()
            return desk.change({**change, "expected_revision": revision}, key=key)

        with ThreadPoolExecutor(max_workers=len(racers)) as pool:
            replies = dict(zip(racers, pool.map(put, racers), strict=True))
        assert sorted(reply.status for reply in replies.values()) == [200, 409], replies
        [winner] = [key for key, reply in replies.items() if reply.status == 200]
        [loser] = [key for key in racers if key != winner]
        refused(replies[loser], 409, "revision_conflict")
        final = succeeded(desk.traffic())
        assert final == replies[winner].body == replies[winner].event.details["after"]
        assert (final["challenger"], final["policy"], final["canary_percent"], final["updated_by"]) == racers[winner][1]
        assert (final["champion"], final["revision"]) == ("v1", revision + 1)


def test_rollback_drops_the_challenger_then_restores_the_previous_champion(desk: Desk) -> None:
    desk.publish("v1", "v2", "v3")
    succeeded(desk.change({"version": "v1", "policy": "full"}))
    succeeded(desk.change({"version": "v2", "policy": "full"}))
    challenged = succeeded(desk.change({"version": "v3", "policy": "shadow"}))

    dropped = desk.rollback({"reason": "v3 errs in shadow"}, key="risk-ml-key")
    policy = succeeded(dropped)
    assert (policy["champion"], policy["challenger"], policy["policy"], policy["previous_champion"]) == (
        "v2",
        None,
        None,
        "v1",
    )
    assert (policy["revision"], policy["updated_by"]) == (4, "risk-ml")
    assert (dropped.event.action, dropped.event.use_case) == ("model.traffic.rollback", USE_CASE)
    assert dropped.event.details == {
        "change": "rollback",
        "reason": "v3 errs in shadow",
        "before": challenged,
        "after": policy,
    }

    restored = desk.rollback()
    champion = succeeded(restored)
    assert (champion["champion"], champion["previous_champion"], champion["revision"]) == ("v1", None, 5)
    assert restored.event.details["before"] == policy and restored.event.details["after"] == champion

    nothing = refused(desk.rollback(), 409, "traffic_change")
    assert "no previous champion" in nothing["message"]
    assert "'mortgage'" in refused(desk.rollback(use_case="mortgage"), 404, "not_found")["message"]
    assert succeeded(desk.traffic()) == champion


def test_retraining_cuts_a_fresh_snapshot_and_queues_a_job_on_it(desk: Desk) -> None:
    desk.lab.data.clock.wall += 3600
    for key in ("auditor-key", "client-key"):
        assert "models:train" in refused(desk.retrain({"reason": "drift"}, key=key), 403, "forbidden")["message"]
    refused(desk.retrain({"trigger": "drift"}), 422, "invalid_request", ["reason"])
    refused(desk.retrain({"reason": "drift"}, use_case="mortgage"), 404, "not_found")
    assert desk.lab.queue.sent == []

    requested = desk.retrain({"reason": "drift on amount", "trigger": "drift"})
    job = succeeded(requested, 202)
    assert job["snapshot_id"] != desk.lab.snapshot.snapshot_id
    snapshot = desk.lab.data.snapshots.get(DATASET, job["snapshot_id"])
    assert snapshot.created_by == "fraud-ml"
    assert (job["state"], job["version"], job["trigger"], job["reason"], job["deploy"], job["requested_by"]) == (
        "queued",
        "v1",
        "drift",
        "drift on amount",
        "shadow",
        "fraud-ml",
    )
    assert desk.lab.queue.sent == [job["job_id"]]
    event = requested.event
    assert (event.action, event.use_case, event.model_name, event.model_version) == (
        "model.retraining.request",
        USE_CASE,
        MODEL,
        "v1",
    )
    assert (event.details["snapshot_id"], event.details["trigger"], event.details["reason"]) == (
        job["snapshot_id"],
        "drift",
        "drift on amount",
    )
    # The same instant again would need the same snapshot id: a conflict the caller can retry, not a 500.
    again = refused(desk.retrain({"reason": "drift on amount"}), 409, "snapshot_exists")
    assert "send the request again" in again["message"]
    assert desk.lab.queue.sent == [job["job_id"]]


def test_a_version_whose_stored_copies_do_not_verify_is_refused_with_409_and_audited(desk: Desk) -> None:
    desk.publish("v1", "v2")
    trained = desk.lab.run(deploy="none")
    assert trained.state == "succeeded" and trained.version == "v3", trained.message
    v2 = desk.lab.registry.get(MODEL, "v2")
    assert v2 is not None
    objects = desk.lab.data.objects.objects
    artifact = bytearray(objects[v2.manifest.artifact_key])
    artifact[0] ^= 0xFF
    objects[v2.manifest.artifact_key] = bytes(artifact)
    stored = SignedManifest.model_validate_json(objects[manifest_key(MODEL, "v3")])
    forged = stored.model_copy(update={"manifest": stored.manifest.model_copy(update={"threshold": 0.05})})
    objects[manifest_key(MODEL, "v3")] = forged.model_dump_json().encode()

    succeeded(desk.change({"version": "v1", "policy": "full"}))
    tampered_artifact = desk.change({"version": "v2", "policy": "canary", "canary_percent": 10})
    tampered_manifest = desk.change({"version": "v3", "policy": "full"})

    message = refused(tampered_artifact, 409, "version_unverified")["message"]
    assert message.startswith(f"model version {MODEL}:v2 cannot take traffic: the stored artifact")
    assert tampered_artifact.event.error == f"version_unverified: {message}"
    assert (tampered_artifact.event.action, tampered_artifact.event.use_case) == ("model.traffic.change", USE_CASE)
    assert "differs from the registered one" in refused(tampered_manifest, 409, "version_unverified")["message"]
    policy = succeeded(desk.traffic())
    assert (policy["champion"], policy["challenger"], policy["revision"]) == ("v1", None, 1)


def test_a_version_is_promoted_only_once_a_worker_process_loaded_it(engine: Engine, tmp_path: Path) -> None:
    lab = Lab(engine, tmp_path)
    with LocalWorkerPool(
        tmp_path / "artifacts", processes=1, env={"LEAIM_MANIFEST_PUBLIC_KEYS": lab.signer.public_key_b64}
    ) as pool:
        client = LocalWorkerClient(pool.urls)
        lab.worker = client  # type: ignore[assignment]
        desk = Desk(lab, WorkerModelLoader(lambda: client, SystemClock()))
        good, tampered = lab.run(deploy="none"), lab.run(deploy="none", params={"C": 0.3, "max_iter": 300})
        assert (good.state, tampered.state) == ("succeeded", "succeeded"), (good.message, tampered.message)
        signed = lab.registry.get(MODEL, str(tampered.version))
        assert signed is not None
        # The workers' own copy changes after signing; the copy in the artifacts bucket still verifies.
        onnx = tmp_path / "artifacts" / f"{signed.manifest.artifact_digest}.onnx"
        flipped = bytearray(onnx.read_bytes())
        flipped[len(flipped) // 2] ^= 0x01
        onnx.write_bytes(bytes(flipped))

        promoted = succeeded(desk.change({"version": good.version, "policy": "full"}))
        refusal = refused(desk.change({"version": tampered.version, "policy": "shadow"}), 409, "version_unverified")

    assert promoted["champion"] == good.version
    assert "no worker loaded it" in refusal["message"] and "ArtifactVerificationError" in refusal["message"]
    policy = lab.registry.traffic(USE_CASE)
    assert policy is not None and (policy.champion, policy.challenger) == (good.version, None)


def test_the_stop_switch_is_set_and_cleared_by_the_roles_that_own_the_risk_each_change_audited(desk: Desk) -> None:
    assert succeeded(desk.stop_state()) == {
        "use_case": USE_CASE,
        "stopped": False,
        "mode": None,
        "reason": None,
        "changed_by": None,
        "changed_at": None,
    }
    stopped = desk.stop({"mode": "review", "reason": "bias alert under investigation"})
    state = succeeded(stopped)
    assert (state["stopped"], state["mode"], state["changed_by"]) == (True, "review", "fraud-risk")
    assert (stopped.event.action, stopped.event.use_case) == ("use_case.stop", USE_CASE)
    assert stopped.event.details["reason"] == "bias alert under investigation"
    assert stopped.event.details["before"]["stopped"] is False and stopped.event.details["after"] == state
    assert desk.switch.states[USE_CASE].mode == "review"
    assert succeeded(desk.stop_state(key="ml-key")) == state

    resumed = desk.resume({"reason": "retrained, bias within bounds"}, key="ml-key")
    after = succeeded(resumed)
    assert (after["stopped"], after["mode"], after["changed_by"]) == (False, None, "fraud-ml")
    assert resumed.event.action == "use_case.resume" and resumed.event.details["before"] == state
    assert "'card_fraud' is not stopped" in refused(desk.resume({"reason": "again"}), 409, "not_stopped")["message"]


def test_the_stop_switch_refuses_other_roles_bad_bodies_and_unknown_use_cases(desk: Desk) -> None:
    refused(desk.stop({"reason": "x"}, key="client-key"), 403, "forbidden")
    refused(desk.stop({"reason": "x"}, key="auditor-key"), 403, "forbidden")
    refused(desk.stop_state(key="client-key"), 403, "forbidden")
    refused(desk.stop({"mode": "fallback"}), 422, "invalid_request", ["reason"])
    refused(desk.stop({"mode": "pause", "reason": "x"}), 422, "invalid_request", ["mode"])
    refused(desk.resume({}), 422, "invalid_request", ["reason"])
    assert "'mortgage'" in refused(desk.stop({"reason": "x"}, use_case="mortgage"), 404, "not_found")["message"]
    assert desk.switch.states == {}
