from __future__ import annotations

import pytest

from contracts.decision.v1 import DecisionRequest
from leaim.exceptions import NotFoundError, WorkerError, WorkerTimeoutError
from leaim.governance.audit.events import InvocationAudit
from leaim.orchestration.exceptions import InputValidationError, RequestIdReusedError
from tests.support.fakes import TRACE, World, decide


def test_low_risk_transaction_is_approved_by_the_model_with_reasons_and_audit() -> None:
    world = World()
    world.put_card("card-42", {"avg_amount_30d": 75.0, "txn_count_24h": 3, "home_country": "DE"})
    result, audit = decide(world)
    decision = result.response
    assert decision.outcome == "approved"
    assert not decision.fallback and not decision.review_required
    assert decision.model is not None and decision.model.version == "v1"
    assert decision.score is not None and decision.score < 0.3
    assert decision.reasons[0].kind == "threshold"
    assert {r.kind for r in decision.reasons[1:]} == {"feature"}
    assert decision.trace_id == TRACE
    assert world.audit.actions() == [("worker.inference", "success"), ("decision.create", "success")]
    worker_event = world.audit.events[0]
    assert worker_event.artifact_digest == world.model.artifact_digest
    assert worker_event.batch_size == 1 and worker_event.worker == "linear-test-worker"
    assert audit.stored is not None and audit.stored.decision_id == decision.decision_id


def test_the_worker_receives_features_from_inputs_and_the_online_store_with_the_deadline() -> None:
    world = World()
    world.put_card("card-42", {"avg_amount_30d": 10.0, "txn_count_24h": 7, "home_country": "FR"})
    decide(world, amount=99.0)
    sent = world.worker.requests[0]
    row = dict(zip(sent.feature_names, sent.rows[0], strict=True))
    assert row["amount_to_avg"] == pytest.approx(99.0 / 11.0)
    assert row["txn_count_24h"] == 7.0
    assert row["foreign"] == 1.0
    assert sent.deadline_unix_ms == int(world.clock.wall * 1000) + 250
    assert sent.trace_context["traceparent"].split("-")[1] == TRACE


def test_risky_transaction_is_declined_and_a_middle_score_goes_to_review() -> None:
    world = World()
    world.put_card("card-42", {"avg_amount_30d": 50.0, "txn_count_24h": 1, "home_country": "DE"})
    declined, _ = decide(
        world, "r-hi", country="US", hour_of_day=2, card_present=False, merchant_category="digital_goods"
    )
    assert declined.response.outcome == "declined"
    review, _ = decide(world, "r-mid", country="US", card_present=False, amount=50.0)
    band = world.catalog.get("card_fraud").decision.review_band
    assert band is not None and review.response.score is not None
    assert band.low <= review.response.score < band.high
    assert review.response.outcome == "review" and review.response.review_required


def test_a_deterministic_rule_decides_without_calling_the_model() -> None:
    world = World()
    result, _ = decide(world, country="KP")
    assert result.response.outcome == "declined"
    assert result.response.reasons[0].kind == "rule" and result.response.reasons[0].code == "sanctioned_country"
    assert result.response.score is None and result.response.model is None
    assert world.worker.requests == []
    assert world.audit.actions() == [("decision.create", "success")]


def test_worker_failure_gives_the_marked_fallback_and_audits_the_failed_call() -> None:
    world = World()
    world.worker.failure = WorkerTimeoutError("no answer in 0.2 s")
    result, _ = decide(world)
    decision = result.response
    assert decision.fallback and decision.outcome == "review" and decision.review_required
    assert "WorkerTimeoutError" in (decision.fallback_reason or "")
    assert decision.reasons[0].kind == "fallback"
    assert world.audit.actions() == [("worker.inference", "error"), ("decision.create", "fallback")]
    assert "no answer" in (world.audit.events[0].error or "")


def test_open_circuit_stops_calling_the_worker() -> None:
    world = World()
    world.worker.failure = WorkerError("connection refused")
    for index in range(4):
        decide(world, f"r-{index}")
    assert len(world.worker.requests) == 2
    last = world.audit.decisions[world.audit.events[-1].decision_id or ""]
    assert last.fallback and "circuit open" in (last.fallback_reason or "")
    world.clock.mono += 31.0
    world.worker.failure = None
    recovered, _ = decide(world, "r-after")
    assert not recovered.response.fallback
    assert len(world.worker.requests) == 3


def test_same_request_id_replays_the_first_decision_without_a_second_model_call() -> None:
    world = World()
    first, _ = decide(world, "r-same")
    second, audit = decide(world, "r-same")
    assert second.replay and second.response == first.response
    assert len(world.worker.requests) == 1
    assert audit.stored is not None and audit.stored.outcome == "duplicate"


def test_same_request_id_with_other_inputs_is_a_conflict_not_a_replay() -> None:
    world = World()
    decide(world, "r-same")
    with pytest.raises(RequestIdReusedError, match="r-same"):
        decide(world, "r-same", amount=99999.0)
    assert len(world.worker.requests) == 1


def test_invalid_inputs_raise_with_every_offending_field_and_store_nothing() -> None:
    world = World()
    with pytest.raises(InputValidationError) as raised:
        decide(world, amount=-3.0, country="XX", hour_of_day="noon")
    fields = {error.field for error in raised.value.fields}
    assert fields == {"inputs.amount", "inputs.country", "inputs.hour_of_day"}
    assert world.audit.decisions == {}


def test_unknown_use_case_is_not_found() -> None:
    world = World()
    audit = InvocationAudit(world.audit, world.clock, source="s", action="a", invocation_id="i", trace_id=TRACE)
    with pytest.raises(NotFoundError):
        world.service.decide("mortgage", DecisionRequest(request_id="r", inputs={}), audit, remaining_ms=None)


def test_no_active_model_and_feature_store_outage_fall_back() -> None:
    world = World(active=False)
    result, _ = decide(world)
    assert result.response.fallback and "no model version" in (result.response.fallback_reason or "")
    world = World()
    world.features.down = True
    result, _ = decide(world)
    assert result.response.fallback and "feature store" in (result.response.fallback_reason or "")


def test_model_trained_on_other_features_is_not_called() -> None:
    world = World(model_features=["log_amount", "foreign"])
    result, _ = decide(world)
    assert result.response.fallback and "other features" in (result.response.fallback_reason or "")
    assert world.worker.requests == []


def test_an_invocation_out_of_time_falls_back_without_calling_the_worker() -> None:
    world = World()
    result, _ = decide(world, remaining_ms=40)
    assert result.response.fallback and "latency budget" in (result.response.fallback_reason or "")
    assert world.worker.requests == []


def test_pii_is_tokenized_in_the_stored_inputs() -> None:
    world = World()
    result, _ = decide(world)
    stored = world.audit.inputs[result.response.decision_id]
    assert stored["amount"] == 80.0
    assert str(stored["card_id"]).startswith("tok_") and stored["card_id"] != "card-42"
    assert "Erika" not in str(stored)
