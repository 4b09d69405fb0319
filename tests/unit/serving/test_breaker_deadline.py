from __future__ import annotations

from leaim.domain.deadline import Deadline
from leaim.serving.breaker import BreakerBoard, BreakerState, CircuitBreaker


class ManualClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_breaker_opens_at_threshold_and_refuses_calls() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_s=5.0, monotonic=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_success_resets_the_failure_count() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_s=5.0, monotonic=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through_and_closes_on_success() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_s=5.0, monotonic=clock)
    breaker.record_failure()
    clock.t += 4.9
    assert not breaker.allow()
    clock.t += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_failed_probe_reopens_for_a_full_pause() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_s=5.0, monotonic=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.t += 5.0
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.t += 4.0
    assert not breaker.allow()


def test_board_keeps_one_breaker_per_target() -> None:
    clock = ManualClock()
    board = BreakerBoard(failure_threshold=1, reset_s=1.0, monotonic=clock)
    board.for_target("a").record_failure()
    assert board.for_target("a").state is BreakerState.OPEN
    assert board.for_target("b").state is BreakerState.CLOSED


def test_deadline_takes_the_earlier_of_budget_and_remaining_time() -> None:
    clock = ManualClock()
    by_budget = Deadline.within(250, now=1_000.0, monotonic=clock, remaining_ms=10_000, margin_ms=50)
    assert by_budget.remaining_s() == 0.25
    assert by_budget.expires_unix_ms == 1_000_250
    by_lambda = Deadline.within(250, now=1_000.0, monotonic=clock, remaining_ms=120, margin_ms=50)
    assert abs(by_lambda.remaining_s() - 0.07) < 1e-9
    clock.t += 0.1
    assert by_lambda.expired()
    assert by_lambda.remaining_s() == 0.0


def test_deadline_never_negative_when_the_invocation_is_nearly_out_of_time() -> None:
    clock = ManualClock()
    deadline = Deadline.within(250, now=5.0, monotonic=clock, remaining_ms=20, margin_ms=50)
    assert deadline.expired()
    assert deadline.expires_unix_ms == 5_000
