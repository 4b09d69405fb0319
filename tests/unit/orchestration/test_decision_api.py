from __future__ import annotations

import json
from typing import cast

import pytest

from leaim.governance.access.gate import HttpGate, Invocation
from leaim.governance.ports import Principal
from leaim.orchestration.api import DecisionApi
from tests.support.fakes import MemoryKeys, World, transaction
from tests.support.openapi import Documented

KEYS = {
    "client-key": Principal("checkout-service", "decision_client"),
    "auditor-key": Principal("audit-team", "auditor"),
}


def make_api(world: World, max_body_bytes: int = 4096) -> DecisionApi:
    api = DecisionApi(
        service=world.service,
        gate=HttpGate(
            keys=MemoryKeys(KEYS),
            audit_log=world.audit,
            telemetry=world.telemetry,
            clock=world.clock,
            max_body_bytes=max_body_bytes,
            source="DecisionApiFunction",
        ),
    )
    return cast("DecisionApi", Documented(api, lambda: world.audit.events))


def call(
    api: DecisionApi,
    body: object,
    key: str | None = "client-key",
    use_case: str = "card_fraud",
    raw: bytes | None = None,
):
    headers = {"x-api-key": key} if key else {}
    payload = raw if raw is not None else json.dumps(body).encode()
    return api.create(use_case, payload, Invocation(invocation_id="inv-1", headers=headers, remaining_ms=3000))


def only_event(world: World):
    invocation_events = [e for e in world.audit.events if e.source == "DecisionApiFunction"]
    assert len(invocation_events) == 1
    return invocation_events[0]


def test_decision_is_answered_with_everything_a_caller_needs() -> None:
    world = World()
    api = make_api(world)
    answer = call(api, {"request_id": "r-1", "inputs": transaction()})
    assert answer.status == 200
    for key in ("decision_id", "outcome", "score", "reasons", "model", "trace_id", "fallback"):
        assert key in answer.body
    event = only_event(world)
    assert (event.principal, event.role, event.outcome, event.status_code) == (
        "checkout-service",
        "decision_client",
        "success",
        200,
    )
    read = api.read(answer.body["decision_id"], Invocation(invocation_id="inv-2", headers={"x-api-key": "auditor-key"}))
    assert read.status == 200 and read.body == answer.body


def test_reused_request_id_with_other_inputs_is_409() -> None:
    world = World()
    api = make_api(world)
    call(api, {"request_id": "r-1", "inputs": transaction()})
    conflict = call(api, {"request_id": "r-1", "inputs": transaction(amount=5000.0)})
    assert conflict.status == 409 and conflict.body["error"] == "request_id_reused"
    assert [e.status_code for e in world.audit.events if e.source == "DecisionApiFunction"] == [200, 409]


def test_replay_is_marked_in_a_header() -> None:
    world = World()
    api = make_api(world)
    first = call(api, {"request_id": "r-1", "inputs": transaction()})
    again = call(api, {"request_id": "r-1", "inputs": transaction()})
    assert again.body == first.body and again.headers == {"x-idempotent-replay": "true"}


@pytest.mark.parametrize(
    ("key", "status", "error"),
    [(None, 401, "unauthorized"), ("wrong-key", 401, "unauthorized"), ("auditor-key", 403, "forbidden")],
)
def test_authentication_and_authorization_failures_are_rejected_and_audited(key, status, error) -> None:
    world = World()
    answer = call(make_api(world), {"request_id": "r-1", "inputs": transaction()}, key=key)
    assert answer.status == status and answer.body["error"] == error
    event = only_event(world)
    assert event.outcome == "rejected" and event.status_code == status
    assert world.audit.decisions == {}


def test_malformed_json_names_the_body() -> None:
    world = World()
    answer = call(make_api(world), None, raw=b'{"request_id": "r-1", "inputs": {')
    assert answer.status == 400 and answer.body["fields"][0]["field"] == "body"
    assert only_event(world).status_code == 400


def test_contract_errors_name_each_field() -> None:
    world = World()
    answer = call(make_api(world), {"request_id": "has space", "inputs": transaction(), "extra": 1})
    assert answer.status == 422
    assert {f["field"] for f in answer.body["fields"]} == {"request_id", "extra"}


def test_input_errors_name_each_field() -> None:
    world = World()
    inputs = transaction(amount="12", colour="red")
    del inputs["country"]
    answer = call(make_api(world), {"request_id": "r-1", "inputs": inputs})
    assert answer.status == 422 and answer.body["error"] == "invalid_inputs"
    assert {f["field"] for f in answer.body["fields"]} == {"inputs.amount", "inputs.colour", "inputs.country"}
    assert only_event(world).details["fields"]


def test_unknown_use_case_is_404_and_oversized_body_is_413() -> None:
    world = World()
    api = make_api(world, max_body_bytes=2048)
    assert call(api, {"request_id": "r", "inputs": {}}, use_case="mortgage").status == 404
    big = call(api, {"request_id": "r", "inputs": transaction(cardholder_name="x" * 5000)})
    assert big.status == 413 and big.body["error"] == "body_too_large"
    events = [e for e in world.audit.events if e.source == "DecisionApiFunction"]
    assert [e.status_code for e in events] == [404, 413]


def test_unknown_decision_is_404_and_audited() -> None:
    world = World()
    answer = make_api(world).read("nope", Invocation(invocation_id="i", headers={"x-api-key": "auditor-key"}))
    assert answer.status == 404
    assert only_event(world).action == "decision.read"


def test_audit_store_refusal_withholds_the_decision() -> None:
    from leaim.exceptions import AuditWriteError

    world = World()

    def refuse(*args, **kwargs):
        raise AuditWriteError("disk full")

    world.audit.record_decision = refuse  # type: ignore[method-assign]
    answer = call(make_api(world), {"request_id": "r-1", "inputs": transaction()})
    assert answer.status == 503 and "decision_id" not in answer.body


def send(api: DecisionApi, raw: bytes, content_type: str | None):
    headers = {"x-api-key": "client-key", **({"content-type": content_type} if content_type else {})}
    return api.create("card_fraud", raw, Invocation(invocation_id="inv-1", headers=headers, remaining_ms=3000))


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code", "problem"),
    [
        (
            b'{"request_id": "r-1", "request_id": "r-2", "inputs": {}}',
            None,
            400,
            "malformed_json",
            "json_duplicate_key",
        ),
        (
            b'{"request_id": "r-1", "inputs": {"amount": 1, "amount": 2}}',
            None,
            400,
            "malformed_json",
            "json_duplicate_key",
        ),
        ('{"request_id": "r-1", "inputs": {}}'.encode("utf-16"), None, 400, "malformed_json", "json_invalid"),
        (b'{"request_id": "caf\xe9", "inputs": {}}', "application/json", 400, "malformed_json", "json_invalid"),
        (b"request_id=r-1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", None),
        (b'{"request_id": "r-1", "inputs": {}}', "text/plain", 415, "unsupported_media_type", None),
        (
            b'{"request_id": "r-1", "inputs": {}}',
            "application/json; charset=latin-1",
            415,
            "unsupported_media_type",
            None,
        ),
    ],
)
def test_a_body_that_is_not_one_json_document_in_utf8_is_refused_naming_the_problem_and_audited(
    raw: bytes, content_type: str | None, status: int, code: str, problem: str | None
) -> None:
    world = World()
    answer = send(make_api(world), raw, content_type)

    assert (answer.status, answer.body["error"]) == (status, code)
    if problem is not None:
        assert [(field["field"], field["type"]) for field in answer.body["fields"]] == [("body", problem)]
    event = only_event(world)
    assert (event.outcome, event.status_code) == ("rejected", status)
    assert world.service.get("r-1") is None
    assert not [e for e in world.audit.events if e.action == "decision.create" and e.outcome == "success"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/vnd.leaim+json"]
)
def test_json_is_accepted_under_its_media_types(content_type: str) -> None:
    world = World()
    answer = send(make_api(world), json.dumps({"request_id": "r-1", "inputs": transaction()}).encode(), content_type)
    assert answer.status == 200
