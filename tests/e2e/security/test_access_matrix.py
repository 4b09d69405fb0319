"""Every role against every route and object owner, over HTTP on the local stack, with the expected answer of each
call worked out from the access policy itself (`ROLE_PERMISSIONS`, `OBJECT_GRANTS`, the key's scope) and the
route table: a role without the permission gets 403, a key out of the object's reach gets the 404 of an object
that does not exist, every other call is served (or refused for its body, sent invalid on purpose where serving
it would train or promote)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from embedded.clients.http import Sent, send
from embedded.synthetic import CardFraudGenerator
from leaim.governance.access.policy import OBJECT_GRANTS, ROLE_PERMISSIONS, Permission, is_allowed
from leaim.governance.access.routes import ROUTES, Route, Touches
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tests.e2e.security.conftest import SecurityStack

pytestmark = pytest.mark.slow

USE_CASE = "card_fraud"
DATASET = "transactions"
MODEL = "card-fraud"
# Routes whose answer spans every use case: only a key scoped to every one may read them.
SPANS_EVERY_USE_CASE = {("GET", "/v1/governance/coverage")}
# Bodies sent invalid on purpose (a field no contract has): an authorized caller is refused 422 after the access
# checks, so the matrix trains, promotes, ingests and snapshots nothing.
INVALID = {"matrix": "not a field of any contract"}
DOCUMENT_KIND = "instructions"


@dataclass(frozen=True)
class Objects:
    """The objects the matrix asks about: a decision of card_fraud in the review band, made by the local decision
    client, the training job and snapshot that made the champion, a document archived beside it, and a legal hold
    on card_fraud."""

    decision_id: str
    job_id: str
    snapshot_id: str
    document_sha256: str
    hold_id: str


@dataclass(frozen=True)
class Caller:
    """One key of the matrix: its role, and what it reaches."""

    name: str
    role: str
    key: str
    every_use_case: bool
    made_the_decision: bool


def callers(security: SecurityStack) -> list[Caller]:
    found = [Caller(f"{role}/*", role, key, True, role == "decision_client") for role, key in security.keys.items()]
    found += [Caller(f"{role}/other", role, key, False, False) for role, key in security.foreign.items()]
    found.append(Caller("decision_client/peer", "decision_client", security.peer, True, False))
    return found


def expected(route: Route, caller: Caller) -> int | None:
    """The status the policy says `caller` gets from `route`: 403, 404, or None for served (any status the route
    declares other than 401, 403 and 404)."""
    assert route.permission is not None
    if not is_allowed(caller.role, route.permission):
        return 403
    if route.touches is Touches.NONE:
        if (route.method, route.path) in SPANS_EVERY_USE_CASE and not caller.every_use_case:
            return 403
        return None
    if not caller.every_use_case:
        # The key names another use case and dataset only: every object of card_fraud is out of its scope.
        return 404
    if route.touches in (Touches.DECISION, Touches.REVIEW):
        granted = caller.role in OBJECT_GRANTS.get(route.permission, frozenset())
        return None if caller.made_the_decision or granted else 404
    return None


def path_of(route: Route, objects: Objects) -> str:
    values = {
        "use_case": USE_CASE,
        "dataset": DATASET,
        "model": MODEL,
        # A model's versions are named (`v1`), a policy's and a dataset contract's numbered.
        "version": "1" if "/policies/" in route.path or "/contracts/" in route.path else "v1",
        "job_id": objects.job_id,
        "snapshot_id": objects.snapshot_id,
        "review_id": objects.decision_id,
        "kind": DOCUMENT_KIND,
        "sha256": objects.document_sha256,
        "hold_id": objects.hold_id,
        # `{id}` is the use case when a decision is made, the decision everywhere else.
        "id": USE_CASE if route.permission is Permission.CREATE_DECISION else objects.decision_id,
    }
    path = route.path
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    assert "{" not in path, path
    return path


def body_of(route: Route, inputs: Mapping[str, object], index: int) -> object | None:
    if route.request is None:
        return None
    if route.permission is Permission.CREATE_DECISION:
        return {"request_id": f"matrix-{index}", "inputs": dict(inputs)}
    if route.permission is Permission.RECORD_OUTCOME:
        return {"label": False, "source": "access-matrix"}
    if route.permission is Permission.REVIEW_DECISIONS:
        return {"outcome": "approved", "justification": "the access matrix reviews it"}
    return INVALID


def in_review_band(security: SecurityStack) -> tuple[str, dict[str, object]]:
    """A decision of the local decision client that waits for review, and inputs to decide on."""
    world = security.world
    generator = CardFraudGenerator(world.manifest, seed=4242)
    cards = CardFraudGenerator(world.manifest, seed=99).cards(50)
    first: dict[str, object] | None = None
    for index, transaction in enumerate(generator.transactions(400, cards)):
        first = first or dict(transaction.inputs)
        answer = world.call(
            "POST",
            f"/v1/decisions/{USE_CASE}",
            "decision_client",
            {"request_id": f"band-{index}", "inputs": transaction.inputs},
        )
        if answer["review_required"]:
            return answer["decision_id"], first
    raise AssertionError("no decision of 400 fell in the review band: the matrix needs one")


def made(security: SecurityStack, action: str, detail: str) -> str:
    events = security.world.audit_log.events(AuditQuery(action=action, outcome="success"))
    assert events, f"no {action} event"
    return str(events[0].details[detail])


def archived(security: SecurityStack) -> str:
    """The sha256 of a document archived beside the champion, for the route that reads one back."""
    content = base64.b64encode(b"# Instructions for use: card_fraud\n").decode()
    path = f"/v1/models/{MODEL}/versions/v1/documents/{DOCUMENT_KIND}"
    answer = security.world.call(
        "PUT", path, "ml_engineer", {"format": "markdown", "content_base64": content}, expect=201
    )
    return str(answer["sha256"])


def test_every_role_gets_from_every_route_what_the_access_policy_says(security: SecurityStack) -> None:
    decision_id, inputs = in_review_band(security)
    # A monitor run, so that the drift and bias reports a caller may read exist.
    security.world.run_schedule("DriftMonitorFunction")
    objects = Objects(
        decision_id=decision_id,
        job_id=made(security, "model.training_job.create", "job_id"),
        snapshot_id=made(security, "dataset.snapshot.create", "snapshot_id"),
        document_sha256=archived(security),
        hold_id=security.world.call(
            "POST", f"/v1/use-cases/{USE_CASE}/legal-holds", "auditor", {"reason": "the access matrix"}, expect=201
        )["hold_id"],
    )
    keyed = [route for route in ROUTES if not route.public]
    assert set(ROLE_PERMISSIONS) <= {caller.role for caller in callers(security)}
    problems: list[str] = []
    calls = 0
    for route in keyed:
        path = path_of(route, objects)
        for caller in callers(security):
            body = body_of(route, inputs, calls)
            payload = b"" if body is None else json.dumps(body).encode()
            headers = {"x-api-key": caller.key, **({"content-type": "application/json"} if payload else {})}
            answer = send(security.api_url, Sent(route.operation_id, route.method, path, payload, headers), 60)
            calls += 1
            want = expected(route, caller)
            status = answer.status
            shown = f"{route.method} {route.path} as {caller.name}: {status} {answer.raw[:160]!r}"
            if want is None:
                declared = {item.status for item in route.answers} | set(route.errors)
                if status in (401, 403, 404) or status >= 500 or status not in declared:
                    problems.append(f"served expected, got {shown}")
            elif status != want:
                problems.append(f"{want} expected, got {shown}")
            elif want == 403 and answer.body.get("error") != "forbidden":
                problems.append(f"403 forbidden expected, got {shown}")
            elif want == 404 and answer.body.get("error") == "forbidden":
                problems.append(f"a 404 that says forbidden: {shown}")
        without = send(security.api_url, Sent(route.operation_id, route.method, path, b"", {}), 60)
        calls += 1
        if without.status != 401:
            problems.append(f"401 expected without a key, got {route.method} {route.path}: {without.status}")

    assert problems == []
    assert calls == len(keyed) * (len(callers(security)) + 1)


def test_a_refused_call_is_answered_exactly_as_one_for_an_object_that_does_not_exist(security: SecurityStack) -> None:
    decision_id, _ = in_review_band(security)
    peer = {"x-api-key": security.peer}

    for template in ("/v1/decisions/{}", "/v1/decisions/{}/explanation"):
        theirs = send(security.api_url, Sent("read", "GET", template.format(decision_id), b"", peer), 60)
        nobody = send(security.api_url, Sent("read", "GET", template.format("no-such-decision"), b"", peer), 60)
        assert theirs.status == nobody.status == 404
        assert theirs.body["error"] == nobody.body["error"]
        assert theirs.body["message"] == nobody.body["message"].replace("no-such-decision", decision_id)
        assert theirs.body["fields"] == nobody.body["fields"] == []
