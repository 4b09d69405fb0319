"""Failure paths of the decision path: every worker call audited, the breaker never stuck, no 500 for bad bodies."""

from __future__ import annotations

import json

import pytest

from leaim.exceptions import DependencyUnavailableError
from leaim.governance.access.gate import HttpGate, Invocation
from leaim.governance.ports import Principal
from leaim.orchestration.api import DecisionApi
from leaim.serving.breaker import BreakerState
from tests.support.fakes import DIGEST, MemoryKeys, World, decide, transaction


class UnexpectedError(Exception):
    pass


def test_an_unexpected_worker_exception_still_releases_the_half_open_probe() -> None:
    world = World()
    breaker = world.breakers.for_target(DIGEST)
    breaker.record_failure()
    breaker.record_failure()
    world.clock.mono += 31.0
    assert breaker.state is BreakerState.HALF_OPEN
    original = world.worker.score

    def explode(request, timeout_s):
        raise UnexpectedError("bug in a client library")

    world.worker.score = explode  # type: ignore[method-assign]
    with pytest.raises(UnexpectedError):
        decide(world, "r-boom")
    world.worker.score = original  # type: ignore[method-assign]
    assert breaker.state is BreakerState.OPEN
    world.clock.mono += 31.0
    assert not decide(world, "r-after")[0].response.fallback


def test_a_worker_answer_for_another_model_is_a_failed_call() -> None:
    world = World()
    original = world.worker.score

    def other_model(request, timeout_s):
        return original(request, timeout_s).model_copy(update={"model_version": "v0"})

    world.worker.score = other_model  # type: ignore[method-assign]
    result, _ = decide(world, "r-1")
    assert result.response.fallback and "answered for card-fraud@v0" in (result.response.fallback_reason or "")
    assert world.audit.actions() == [("worker.inference", "error"), ("decision.create", "fallback")]
    assert world.audit.events[0].decision_id == result.response.decision_id


def test_worker_events_are_kept_when_storing_the_decision_fails_unexpectedly() -> None:
    world = World()

    def broken(*args, **kwargs):
        raise UnexpectedError("database driver bug")

    world.audit.record_decision = broken  # type: ignore[method-assign]
    with pytest.raises(UnexpectedError):
        decide(world, "r-1")
    assert world.audit.actions() == [("worker.inference", "success")]


def test_a_concurrent_duplicate_replays_the_winner_and_still_audits_its_worker_call() -> None:
    world = World()
    winner = decide(world, "r-race")[0].response
    world.audit.by_request = lambda use_case, request_id: None  # type: ignore[method-assign]
    loser, _ = decide(world, "r-race")
    assert loser.replay and loser.response == winner
    assert [a for a in world.audit.actions() if a[0] == "worker.inference"] == [("worker.inference", "success")] * 2
    assert world.audit.actions()[-1] == ("decision.create", "duplicate")


def make_api(world: World, keys=None) -> DecisionApi:
    return DecisionApi(
        service=world.service,
        gate=HttpGate(
            keys=keys or MemoryKeys({"k": Principal("svc", "decision_client")}),
            audit_log=world.audit,
            telemetry=world.telemetry,
            clock=world.clock,
            max_body_bytes=200_000,
            source="DecisionApiFunction",
        ),
    )


def test_bodies_that_break_the_json_parser_are_400_not_500() -> None:
    world = World()
    api = make_api(world)
    nested = b"[" * 60_000 + b"]" * 60_000
    huge_int = b'{"request_id": "r", "inputs": {"amount": ' + b"9" * 5000 + b"}}"
    for body in (nested, huge_int, b"\xff\xfe"):
        answer = api.create("card_fraud", body, Invocation("i", {"x-api-key": "k"}))
        assert answer.status == 400 and answer.body["fields"][0]["field"] == "body"


def test_a_nested_input_value_names_only_its_field() -> None:
    world = World()
    body = json.dumps({"request_id": "r", "inputs": transaction(amount={"x": 1})}).encode()
    answer = make_api(world).create("card_fraud", body, Invocation("i", {"x-api-key": "k"}))
    assert answer.status == 422
    assert [f["field"] for f in answer.body["fields"]] == ["inputs.amount"]


def test_an_unreachable_key_table_is_503_with_retry_after_and_audited() -> None:
    class Down:
        def lookup(self, key_digest: str):
            raise DependencyUnavailableError("API key table unavailable: timeout")

    world = World()
    answer = make_api(world, keys=Down()).create("card_fraud", b"{}", Invocation("i", {"x-api-key": "k"}))
    assert answer.status == 503 and answer.headers == {"retry-after": "1"}
    assert world.audit.actions() == [("decision.create", "error")]
