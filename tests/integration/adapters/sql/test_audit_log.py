"""Audit log and decision store, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse, Override, Reason
from contracts.governance.v1 import RecordedOutcome
from leaim.adapters.sql import DuplicateDecisionError, SqlAuditLog, SqlDecisionStore
from leaim.adapters.sql.oversight import SqlOversight
from leaim.adapters.sql.tables import AuditEventRow
from leaim.exceptions import AuditWriteError, RecordExistsError
from leaim.governance.ports import AuditQuery
from leaim.orchestration.ports import MadeDecision, PriorDecision
from tests.support.audit import BASE_TIME, MAKER, decision_event, make_decision, make_event

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leaim.governance.ports import AuditLog
    from leaim.orchestration.ports import DecisionStore


def test_adapters_implement_the_ports(engine: Engine) -> None:
    log: AuditLog = SqlAuditLog(engine)
    store: DecisionStore = SqlDecisionStore(engine)
    assert log is not None
    assert store is not None


def test_every_audit_event_field_has_a_column_beside_its_chain_link() -> None:
    chain = {"chain_id", "chain_seq", "prev_hash", "event_hash"}
    assert set(AuditEvent.model_fields) == set(AuditEventRow.model_fields) - chain


def test_event_round_trips_exactly(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    full = make_event(
        occurred_at=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5))),
        outcome="fallback",
        duration_ms=0.1 + 0.2,
        status_code=200,
        principal="svc-loans",
        role="caller",
        use_case="credit_limit",
        request_id="req-9",
        decision_id="dec-9",
        model_name="credit",
        model_version="3",
        artifact_digest="sha256:" + "b" * 64,
        worker="inference",
        batch_size=4,
        error="WorkerTimeoutError: no answer in 250 ms",
        details={"reason": "timeout", "attempts": 2, "nested": {"ratio": 0.125, "flags": [True, None]}},
    )
    minimal = make_event(occurred_at=BASE_TIME + timedelta(seconds=1))
    log.append(full)
    log.append(minimal)

    stored = {event.event_id: event for event in log.events()}

    assert stored == {full.event_id: full, minimal.event_id: minimal}
    assert stored[full.event_id].occurred_at.utcoffset() == timedelta(0)
    assert stored[full.event_id].occurred_at == datetime(2025, 1, 2, 8, 4, 5, 678901, tzinfo=UTC)


def test_naive_timestamps_are_read_back_as_utc(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    log.append(make_event(occurred_at=datetime(2025, 6, 1, 12, 0)))
    (stored,) = log.events()
    assert stored.occurred_at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_append_many_is_one_transaction(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    taken = make_event()
    log.append(taken)

    with pytest.raises(AuditWriteError, match="were not stored") as caught:
        log.append_many([make_event(), make_event(), make_event(event_id=taken.event_id)])

    assert caught.value.__cause__ is not None
    assert log.count() == 1
    log.append_many(make_event() for _ in range(3))
    assert log.count() == 4


def test_details_that_are_not_json_are_refused(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    with pytest.raises(AuditWriteError, match="details of audit event"):
        log.append(make_event(details={"score": float("nan")}))
    assert log.count() == 0


def test_record_decision_stores_decision_inputs_and_event(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    decision = make_decision()
    event = decision_event(decision)

    log.record_decision(decision, {"income": 52000, "region": "tok_9f2c", "existing": True}, event)

    assert store.get(decision.decision_id) == MadeDecision(decision, MAKER)
    assert store.by_request(decision.use_case, decision.request_id) == PriorDecision(
        decision, {"income": 52000, "region": "tok_9f2c", "existing": True}
    )
    (stored,) = log.events(AuditQuery(decision_id=decision.decision_id))
    recorded = stored.details["decision_sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", recorded)
    assert stored == event.model_copy(update={"details": {"decision_sha256": recorded}})


def test_unknown_decisions_are_none(engine: Engine) -> None:
    store = SqlDecisionStore(engine)
    assert store.get("missing") is None
    assert store.by_request("credit_limit", "missing") is None


def test_failing_event_insert_leaves_no_decision(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    earlier = make_event()
    log.append(earlier)
    decision = make_decision()

    with pytest.raises(AuditWriteError):
        log.record_decision(decision, {}, decision_event(decision, event_id=earlier.event_id))

    assert store.get(decision.decision_id) is None
    assert log.count() == 1


def test_failing_decision_insert_leaves_no_event(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    first = make_decision(request_id="req-1")
    log.record_decision(first, {}, decision_event(first))
    reused_id = make_decision(decision_id=first.decision_id, request_id="req-2")
    orphan = decision_event(reused_id)

    with pytest.raises(AuditWriteError, match="a key is already taken"):
        log.record_decision(reused_id, {}, orphan)

    assert log.count(AuditQuery(trace_id=orphan.trace_id)) == 0
    assert store.by_request(reused_id.use_case, "req-2") is None
    assert store.get(first.decision_id) == MadeDecision(first, MAKER)


def reviewed(decision: DecisionResponse, event_id: str, outcome: str = "declined") -> Override:
    return Override(
        review_id=decision.decision_id,
        original_outcome=decision.outcome,
        outcome=outcome,
        justification="The cardholder reported the card stolen.",
        reviewer="risk-analyst",
        reviewed_at=BASE_TIME + timedelta(hours=1),
        event_id=event_id,
    )


def truth(decision: DecisionResponse, label: bool) -> RecordedOutcome:
    return RecordedOutcome(
        decision_id=decision.decision_id,
        use_case=decision.use_case,
        label=label,
        observed_at=BASE_TIME + timedelta(days=3),
        source="chargebacks",
        reported_by="checkout-service",
        recorded_at=BASE_TIME + timedelta(days=4),
        model=decision.model,
        score=decision.score,
        outcome=decision.outcome,
    )


def test_an_override_is_stored_with_its_event_or_not_at_all(engine: Engine) -> None:
    log, oversight = SqlAuditLog(engine), SqlOversight(engine)
    decision = make_decision(outcome="review", review_required=True)
    log.record_decision(decision, {}, decision_event(decision))
    taken = make_event()
    log.append(taken)

    # The event's id is taken: the override goes with the event it would have been stored under.
    with pytest.raises(AuditWriteError, match="a key is already taken"):
        log.record_override(reviewed(decision, taken.event_id), decision.use_case, make_event(event_id=taken.event_id))
    assert oversight.override_of(decision.decision_id) is None

    event = make_event(action="review.override", decision_id=decision.decision_id)
    log.record_override(reviewed(decision, event.event_id), decision.use_case, event)
    assert oversight.override_of(decision.decision_id) == reviewed(decision, event.event_id)
    assert log.events(AuditQuery(action="review.override")) == [event]

    # A second override finds the first: neither it nor its event is kept.
    late = make_event(action="review.override", decision_id=decision.decision_id)
    with pytest.raises(RecordExistsError, match=f"override of decision '{decision.decision_id}' is stored already"):
        log.record_override(reviewed(decision, late.event_id, "approved"), decision.use_case, late)
    assert oversight.override_of(decision.decision_id) == reviewed(decision, event.event_id)
    assert log.events(AuditQuery(action="review.override")) == [event]


def test_an_outcome_is_stored_with_its_event_or_not_at_all(engine: Engine) -> None:
    log, oversight = SqlAuditLog(engine), SqlOversight(engine)
    decision = make_decision()
    log.record_decision(decision, {}, decision_event(decision))
    taken = make_event()
    log.append(taken)

    with pytest.raises(AuditWriteError, match="a key is already taken"):
        log.record_outcome(truth(decision, label=True), make_event(event_id=taken.event_id))
    assert oversight.outcome_of(decision.decision_id) is None

    event = make_event(action="decision.outcome", decision_id=decision.decision_id)
    log.record_outcome(truth(decision, label=True), event)
    assert oversight.outcome_of(decision.decision_id) == truth(decision, label=True)

    late = make_event(action="decision.outcome", decision_id=decision.decision_id)
    with pytest.raises(RecordExistsError, match="is stored already"):
        log.record_outcome(truth(decision, label=False), late)
    assert oversight.outcome_of(decision.decision_id) == truth(decision, label=True)
    assert log.events(AuditQuery(action="decision.outcome")) == [event]


def test_inputs_that_are_not_json_leave_nothing_behind(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    decision = make_decision()

    with pytest.raises(AuditWriteError, match="inputs of decision"):
        log.record_decision(decision, {"income": object()}, decision_event(decision))

    assert store.get(decision.decision_id) is None
    assert log.count() == 0


def test_duplicate_request_carries_the_first_decision(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    first = make_decision(outcome="approved")
    log.record_decision(first, {"income": 1}, decision_event(first))
    retry = make_decision(outcome="declined")
    retry_event = decision_event(retry)

    with pytest.raises(DuplicateDecisionError) as caught:
        log.record_decision(retry, {"income": 1}, retry_event)

    assert caught.value.decision == first
    prior = store.by_request(first.use_case, first.request_id)
    assert prior is not None
    assert prior.response == first
    assert store.get(retry.decision_id) is None
    assert log.count(AuditQuery(trace_id=retry_event.trace_id)) == 0


def test_same_request_id_in_another_use_case_is_a_new_decision(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    first = make_decision(use_case="credit_limit")
    other = make_decision(use_case="fraud_check")
    log.record_decision(first, {}, decision_event(first))
    log.record_decision(other, {}, decision_event(other))
    prior = store.by_request("fraud_check", other.request_id)
    assert prior is not None
    assert prior.response == other


def test_fallback_decision_without_model_round_trips(engine: Engine) -> None:
    log, store = SqlAuditLog(engine), SqlDecisionStore(engine)
    decision = make_decision(
        outcome="pending_review",
        score=None,
        model=None,
        fallback=True,
        fallback_reason="worker timeout",
        review_required=True,
        reasons=[Reason(kind="fallback", code="timeout", message="worker did not answer")],
    )
    log.record_decision(decision, {}, decision_event(decision, outcome="fallback"))
    assert store.get(decision.decision_id) == MadeDecision(decision, MAKER)


def test_concurrent_appends_from_many_threads_all_land(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    threads, per_thread = 8, 200
    start = threading.Barrier(threads)

    def append_batch(worker: int) -> None:
        start.wait()
        for index in range(per_thread):
            log.append(make_event(source=f"Function{worker}", invocation_id=f"{worker}-{index}"))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for outcome in [pool.submit(append_batch, worker) for worker in range(threads)]:
            outcome.result()

    assert log.count() == threads * per_thread
    assert all(log.count(AuditQuery(source=f"Function{worker}")) == per_thread for worker in range(threads))


def test_counts_by_outcome(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    log.append_many(
        [
            *(make_event(outcome="success") for _ in range(3)),
            make_event(outcome="fallback"),
            make_event(outcome="rejected", status_code=400),
            make_event(source="DecisionQueueFunction", action="decision.consume", outcome="success"),
            make_event(source="DecisionQueueFunction", action="decision.consume", outcome="error"),
        ]
    )

    assert log.count(AuditQuery(outcome="fallback")) == 1
    assert log.count(AuditQuery(outcome="rejected")) == 1
    assert log.count(AuditQuery(outcome="success")) == 4
    assert log.count(AuditQuery(source="DecisionQueueFunction", outcome="error")) == 1
    assert log.count(AuditQuery(action="decision.create")) == 5


def test_events_are_filtered_ordered_and_limited(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    trace = uuid.uuid4().hex
    events = [make_event(trace_id=trace, occurred_at=BASE_TIME + timedelta(minutes=minute)) for minute in (3, 1, 2)]
    log.append_many([*events, make_event(occurred_at=BASE_TIME + timedelta(minutes=5))])
    oldest_first = sorted(events, key=lambda event: event.occurred_at)

    assert log.events(AuditQuery(trace_id=trace)) == oldest_first
    assert log.events(AuditQuery(trace_id=trace), limit=2) == oldest_first[:2]
    assert (
        log.events(AuditQuery(since=BASE_TIME + timedelta(minutes=2, seconds=30), trace_id=trace)) == oldest_first[2:]
    )
    assert log.count(AuditQuery(since=BASE_TIME + timedelta(minutes=2))) == 3
    berlin = timezone(timedelta(hours=1))
    assert log.count(AuditQuery(since=(BASE_TIME + timedelta(minutes=2)).astimezone(berlin))) == 3
    assert log.events(AuditQuery(trace_id="unknown")) == []
