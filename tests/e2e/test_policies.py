"""A use case's decision policy as a governed, versioned object on the running local stack: every decision names the
policy version that made it; a changed threshold is proposed, refused to its own proposer, shadowed on live traffic
with a report of what it would change, approved by another principal, activated without a restart, and rolled back;
each change is in the audit trail with who made it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from embedded.clients.http import send
from embedded.demos.traffic import decision_request
from embedded.synthetic import CardFraudGenerator
from embedded.world import LocalWorld, WorldOptions
from leaim.domain.policies import policy_digest
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")

pytestmark = pytest.mark.slow

USE_CASE = "card_fraud"
POLICIES = f"/v1/use-cases/{USE_CASE}/policies"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    options = WorldOptions(
        state_dir=tmp_path_factory.mktemp("policies"), stack_name="e2e-policies", run_schedules=False
    )
    with LocalWorld(options) as running:
        running.train(rows=3_000)
        running.seed(CardFraudGenerator(running.manifest, seed=99).cards(50))
        yield running


class Traffic:
    """Decision requests of seeded cards, each with a new request id."""

    def __init__(self, world: LocalWorld) -> None:
        cards = CardFraudGenerator(world.manifest, seed=99).cards(50)
        self._inputs = iter([t.inputs for t in CardFraudGenerator(world.manifest, seed=4321).transactions(400, cards)])
        self._world = world
        self._sent = 0

    def decide(self) -> dict[str, Any]:
        self._sent += 1
        request = decision_request(
            USE_CASE,
            f"policy-{self._world.run_id}-{self._sent}",
            next(self._inputs),
            self._world.api_keys["decision_client"],
        )
        answer = send(self._world.running.api_url, request)
        assert answer.status == 200, answer.body
        return answer.body


def changed_threshold(world: LocalWorld) -> dict[str, Any]:
    """The active manifest with a lower threshold and a review band below it: more declines and reviews."""
    document = world.catalog.get(USE_CASE).model_dump(mode="json")
    document["decision"] = {
        **document["decision"],
        "threshold": 0.2,
        "review_band": {"low": 0.05, "high": 0.2, "outcome": "review"},
    }
    return document


def test_a_policy_change_is_shadowed_approved_by_another_principal_bound_to_decisions_and_rolled_back(
    world: LocalWorld,
) -> None:
    traffic = Traffic(world)
    first = traffic.decide()
    seeded = world.call("GET", f"{POLICIES}/1", "auditor")
    assert first["policy"] == {"version": 1, "digest": seeded["digest"]}
    assert seeded["digest"] == policy_digest(seeded["document"]) and seeded["state"] == "active"

    proposed = world.call(
        "POST", POLICIES, "ml_engineer", {"document": changed_threshold(world), "note": "catch more fraud"}, expect=201
    )
    version = proposed["version"]
    assert {change["path"] for change in proposed["changes"]} == {
        "decision.threshold",
        "decision.review_band.low",
        "decision.review_band.high",
    }
    refused = world.call("POST", f"{POLICIES}/{version}/approve", "ml_engineer", {}, expect=403)
    assert refused["error"] == "four_eyes"
    refused = world.call("POST", f"{POLICIES}/{version}/activate", "ml_engineer", {}, expect=409)
    assert refused["error"] == "policy_state"

    world.call("POST", f"{POLICIES}/{version}/shadow", "ml_engineer", {"reason": "measure it first"})
    wait_until(lambda: "policy_shadow" in _decision_details(world, traffic.decide()), timeout_s=15)
    shadowed = [traffic.decide() for _ in range(40)]
    assert all(decision["policy"]["version"] == 1 for decision in shadowed), "the active version still decides"
    world.settle()
    report = world.call("GET", f"{POLICIES}/{version}/shadow-report", "auditor")
    assert report["decisions"] >= 40 and report["active_versions"] == [1]
    assert sum(shift["count"] for shift in report["shifts"]) == report["decisions"]
    assert report["changed"] == sum(s["count"] for s in report["shifts"] if s["active"] != s["shadow"])
    assert report["changed"] > 0, report

    approved = world.call("POST", f"{POLICIES}/{version}/approve", "risk_owner", {"reason": "shadow report reviewed"})
    assert approved["approved_by"] == "local-risk-owner" and approved["proposed_by"] == "local-ml-engineer"
    head = world.call("GET", POLICIES, "auditor")["head"]
    activated = world.call(
        "POST", f"{POLICIES}/{version}/activate", "ml_engineer", {"expected_revision": head["revision"]}
    )
    assert (activated["active"], activated["previous"], activated["shadow"]) == (version, [1], None)
    stale = world.call(
        "POST", f"{POLICIES}/rollback", "risk_owner", {"expected_revision": head["revision"]}, expect=409
    )
    assert stale["error"] == "revision_conflict"

    bound = wait_until(lambda: (d := traffic.decide())["policy"]["version"] == version and d, timeout_s=15)
    assert bound["policy"]["digest"] == proposed["digest"]

    world.call("POST", f"{POLICIES}/rollback", "risk_owner", {"reason": "too many reviews"})
    wait_until(lambda: traffic.decide()["policy"]["version"] == 1, timeout_s=15)

    world.settle()
    changes = [
        (event.action, event.principal, event.details.get("change"))
        for event in world.audit_log.events(AuditQuery(use_case=USE_CASE), limit=5000)
        if event.action.startswith("policy.") and event.status_code == 200
    ]
    assert ("policy.shadow", "local-ml-engineer", "shadow") in changes
    assert ("policy.approve", "local-risk-owner", None) in changes
    assert ("policy.activate", "local-ml-engineer", "activate") in changes
    assert ("policy.rollback", "local-risk-owner", "rollback") in changes


def test_an_invalid_manifest_is_refused_naming_each_path_and_nothing_is_registered(world: LocalWorld) -> None:
    before = world.call("GET", POLICIES, "auditor")["head"]["latest"]
    document = changed_threshold(world)
    document["decision"]["threshold"] = 2
    document["features"][0]["transform"] = "square"

    refused = world.call("POST", POLICIES, "ml_engineer", {"document": document}, expect=422)

    fields = {field["field"] for field in refused["fields"]}
    assert {"document.decision.threshold", "document.features.0.transform"} <= fields
    assert world.call("GET", POLICIES, "auditor")["head"]["latest"] == before


def test_a_policy_the_live_model_cannot_take_is_refused_with_the_reason(world: LocalWorld) -> None:
    document = changed_threshold(world)
    document["decision"]["threshold"] = 0.35
    dropped = document["features"].pop()
    del document["adverse_action"]["features"][dropped["name"]]
    version = world.call("POST", POLICIES, "ml_engineer", {"document": document}, expect=201)["version"]
    world.call("POST", f"{POLICIES}/{version}/approve", "risk_owner", {})

    refused = world.call("POST", f"{POLICIES}/{version}/activate", "ml_engineer", {}, expect=409)

    assert refused["error"] == "policy_model_mismatch"
    assert "gambling" in refused["message"]


def _decision_details(world: LocalWorld, decision: dict[str, Any]) -> dict[str, Any]:
    world.settle()
    events = world.audit_log.events(AuditQuery(decision_id=decision["decision_id"], action="decision.create"))
    return events[0].details if events else {}


def wait_until(check: Callable[[], T], *, timeout_s: float) -> T:
    """The first truthy result of `check`, tried until `timeout_s` passes (the functions' policy cache time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, f"not within {timeout_s} s"
            return result
        time.sleep(0.2)
