"""The stop switch on the decision path: a stopped use case's decisions take no model, rule or feature into account."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.model.v1 import ResumeRequest, StopRequest, StopState
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import DependencyUnavailableError
from leaim.governance.access.exceptions import InvalidRequestError
from leaim.lifecycle.stops import NotStoppedError, StopService
from tests.support.fakes import World, decide

STOPPED_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def stopped(mode: str, reason: str = "model under investigation") -> StopState:
    return StopState.model_validate(
        {
            "use_case": "card_fraud",
            "stopped": True,
            "mode": mode,
            "reason": reason,
            "changed_by": "risk-owner",
            "changed_at": STOPPED_AT,
        }
    )


def test_a_use_case_stopped_into_its_fallback_answers_the_fallback_without_calling_the_model() -> None:
    world = World()
    world.stops.set_stop(stopped("fallback"))
    result, _ = decide(world, "r-1", country="US", hour_of_day=3, card_present=False)
    response = result.response
    assert response.outcome == world.catalog.get("card_fraud").fallback.outcome
    assert response.fallback and response.fallback_reason == "use case stopped: model under investigation"
    assert response.model is None and response.score is None
    assert [reason.code for reason in response.reasons] == ["use_case_stopped"]
    assert response.stopped is not None
    assert (response.stopped.mode, response.stopped.stopped_at) == ("fallback", STOPPED_AT)
    assert world.worker.requests == []
    assert world.audit.actions() == [("decision.create", "fallback")]
    assert world.audit.events[0].details["stopped"]["reason"] == "model under investigation"


def test_a_use_case_stopped_into_review_sends_every_decision_to_a_person() -> None:
    world = World()
    world.stops.set_stop(stopped("review"))
    response = decide(world, "r-1")[0].response
    assert (response.outcome, response.review_required, response.fallback) == ("review", True, False)
    assert response.stopped is not None and response.stopped.mode == "review"
    assert world.worker.requests == []


def test_a_stopped_use_case_applies_no_rule_either() -> None:
    world = World()
    world.stops.set_stop(stopped("review"))
    # A sanctioned country is declined by a rule while the use case runs.
    assert decide(world, "r-1", country="KP")[0].response.outcome == "review"


def test_the_switch_is_read_for_every_request_so_a_stop_and_a_resume_take_effect_on_the_next_one() -> None:
    world = World()
    assert decide(world, "r-1")[0].response.stopped is None
    world.stops.set_stop(stopped("fallback"))
    assert decide(world, "r-2")[0].response.stopped is not None
    world.stops.set_stop(StopState(use_case="card_fraud", stopped=False))
    resumed = decide(world, "r-3")[0].response
    assert resumed.stopped is None and resumed.model is not None and not resumed.fallback


def test_a_retried_request_keeps_the_decision_it_was_given_before_the_stop() -> None:
    world = World()
    first = decide(world, "r-1")[0].response
    world.stops.set_stop(stopped("fallback"))
    again = decide(world, "r-1")[0]
    assert again.replay and again.response == first


def test_a_switch_that_cannot_be_read_gives_the_fallback_naming_it() -> None:
    world = World()
    world.stops.failure = DependencyUnavailableError("traffic table timed out")
    response = decide(world, "r-1")[0].response
    assert response.fallback and response.stopped is None
    assert response.fallback_reason == "stop switch unavailable: traffic table timed out"
    assert world.worker.requests == []


def test_stop_and_resume_record_who_changed_the_switch_and_why() -> None:
    world = World()
    service = StopService(switch=world.stops, manifests=world.catalog, clock=world.clock)
    assert not service.state("card_fraud").stopped
    before, after = service.stop("card_fraud", StopRequest(mode="review", reason="bias alert"), actor="risk-owner")
    assert not before.stopped
    assert (after.stopped, after.mode, after.reason, after.changed_by) == (True, "review", "bias alert", "risk-owner")
    assert world.stops.states["card_fraud"] == after
    _, resumed = service.resume("card_fraud", ResumeRequest(reason="retrained and reviewed"), actor="ml-lead")
    assert (resumed.stopped, resumed.mode, resumed.changed_by) == (False, None, "ml-lead")
    with pytest.raises(NotStoppedError, match="'card_fraud' is not stopped"):
        service.resume("card_fraud", ResumeRequest(reason="again"), actor="ml-lead")


def test_a_use_case_without_a_review_band_cannot_be_stopped_into_review() -> None:
    world = World()
    manifest = world.catalog.get("card_fraud")
    without_band = manifest.model_copy(update={"decision": manifest.decision.model_copy(update={"review_band": None})})
    service = StopService(
        switch=world.stops, manifests=ManifestCatalog({"card_fraud": without_band}), clock=world.clock
    )
    with pytest.raises(InvalidRequestError) as refused:
        service.stop("card_fraud", StopRequest(mode="review", reason="check"), actor="risk-owner")
    assert [problem.field for problem in refused.value.fields] == ["mode"]
    assert "card_fraud" not in world.stops.states
