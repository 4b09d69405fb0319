"""The fault suite's checks: what counts as lost, duplicated, unaudited, and when the path has recovered."""

from __future__ import annotations

from embedded.chaos.checks import (
    RECOVERED_AFTER,
    Exchange,
    TrailEvent,
    examine,
    fallbacks_normal,
    recovery_seconds,
)


def decided(request_id: str, at: float, *, decision: str | None = None, fallback: bool = False, **more) -> Exchange:
    return Exchange(
        request_id,
        at,
        200,
        decision_id=decision or f"d-{request_id}",
        trace_id=more.pop("trace", f"t-{request_id}-{at}"),
        fallback=fallback,
        **more,
    )


def event(exchange: Exchange) -> TrailEvent:
    assert exchange.trace_id is not None
    return TrailEvent(exchange.trace_id, exchange.request_id, exchange.decision_id, "success")


def test_a_clean_run_breaks_no_promise() -> None:
    exchanges = [decided(f"r{i}", float(i)) for i in range(8)]
    findings = examine(
        "f",
        exchanges,
        [event(e) for e in exchanges],
        readable={e.decision_id for e in exchanges if e.decision_id},
        fault_ended_at=2.0,
    )
    assert (findings.requests, findings.answered, findings.fallbacks, findings.server_errors) == (8, 8, 0, 0)
    assert (findings.lost, findings.duplicated, findings.unaudited, findings.broken) == (0, 0, 0, 0)
    assert findings.recovery_s == 0.0


def test_a_decision_that_cannot_be_read_back_is_lost() -> None:
    exchanges = [decided("r1", 0.0), decided("r2", 1.0)]
    findings = examine("f", exchanges, [event(e) for e in exchanges], readable={"d-r1"}, fault_ended_at=0.0)
    assert findings.lost == 1 and findings.examples == ("lost r2",)


def test_records_the_ledger_forgot_are_lost_too() -> None:
    exchanges = [decided("r1", 0.0)]
    findings = examine(
        "f",
        exchanges,
        [event(e) for e in exchanges],
        readable={"d-r1"},
        fault_ended_at=0.0,
        records_lost=["3 of 200 ingested records"],
    )
    assert findings.lost == 1 and findings.broken == 1


def test_two_decisions_for_one_request_id_are_a_duplicate_in_the_answers_or_in_the_trail() -> None:
    first = decided("r1", 0.0)
    replay = decided("r1", 1.0, kind="duplicate", replay=True, trace="t-replay")
    other = decided("r2", 2.0)
    trail = [event(first), event(replay), event(other), TrailEvent("t-x", "r2", "d-other", "success")]
    findings = examine("f", [first, replay, other], trail, readable={"d-r1", "d-r2"}, fault_ended_at=0.0)
    assert findings.duplicated == 1 and findings.examples == ("duplicated r2",)
    split = decided("r3", 3.0, decision="d-a"), decided("r3", 4.0, decision="d-b", kind="duplicate", trace="t-b")
    findings = examine("f", list(split), [event(e) for e in split], readable={"d-a", "d-b"}, fault_ended_at=0.0)
    assert findings.duplicated == 1


def test_a_decision_without_exactly_one_audit_event_is_unaudited() -> None:
    none, once, twice = decided("r1", 0.0), decided("r2", 1.0), decided("r3", 2.0)
    trail = [event(once), event(twice), event(twice)]
    findings = examine("f", [none, once, twice], trail, readable={"d-r1", "d-r2", "d-r3"}, fault_ended_at=0.0)
    assert findings.unaudited == 2
    assert findings.examples == ("unaudited r1", "unaudited r3")


def test_refusals_and_unanswered_requests_count_as_5xx_and_are_not_decisions() -> None:
    exchanges = [
        Exchange("r1", 0.0, 503),
        Exchange("r2", 0.1, 0),
        Exchange("r3", 0.2, 429),
        decided("r4", 0.3, fallback=True),
    ]
    findings = examine("f", exchanges, [event(exchanges[3])], readable={"d-r4"}, fault_ended_at=0.0)
    assert (findings.requests, findings.answered, findings.fallbacks, findings.server_errors) == (4, 1, 1, 2)
    assert findings.broken == 0


def test_recovery_is_the_start_of_the_first_run_of_normal_answers_after_the_fault() -> None:
    bad = [decided(f"f{i}", 10.0 + i, fallback=True) for i in range(3)]
    blip = [decided("ok", 13.0), Exchange("err", 14.0, 500)]
    good = [decided(f"g{i}", 15.0 + i) for i in range(RECOVERED_AFTER)]
    assert recovery_seconds([*bad, *blip, *good], 10.0) == 5.0
    assert recovery_seconds([*bad, *blip, *good[:-1]], 10.0) is None


def test_recovery_ignores_what_was_sent_before_the_fault_ended_and_the_duplicates() -> None:
    before = [decided(f"b{i}", float(i)) for i in range(RECOVERED_AFTER)]
    duplicates = [decided(f"b{i}", 11.0 + i, kind="duplicate") for i in range(RECOVERED_AFTER)]
    after = [decided(f"a{i}", 20.0 + i) for i in range(RECOVERED_AFTER)]
    assert recovery_seconds([*before, *duplicates, *after], 10.0) == 10.0


def test_fallbacks_are_normal_only_when_the_path_answered_mostly_fallbacks_before_the_fault() -> None:
    assert fallbacks_normal([decided("a", 0.0, fallback=True), decided("b", 1.0, fallback=True)])
    assert fallbacks_normal([decided("a", 0.0, fallback=True), decided("b", 1.0)])
    assert not fallbacks_normal([decided("a", 0.0, fallback=True), decided("b", 1.0), decided("c", 2.0)])
    assert not fallbacks_normal([Exchange("a", 0.0, 503)])
    fallbacks = [decided(f"a{i}", 5.0 + i, fallback=True) for i in range(RECOVERED_AFTER)]
    assert recovery_seconds(fallbacks, 5.0) is None
    assert recovery_seconds(fallbacks, 5.0, fallbacks_are_normal=True) == 0.0
