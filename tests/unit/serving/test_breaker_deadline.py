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


def test_alternating_failures_open_the_circuit_on_the_failure_rate() -> None:
    # Round robin over one dead and one live worker: never two failures in a row.
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_s=5.0, monotonic=clock, window_calls=20, min_calls=10)
    for _ in range(4):
        breaker.record_success()
        breaker.record_failure()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_a_failure_rate_below_the_threshold_keeps_the_circuit_closed() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_s=5.0, monotonic=clock, min_calls=10, failure_rate=0.5)
    for _ in range(30):
        breaker.record_success()
        breaker.record_success()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_the_window_holds_only_the_last_calls() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_s=5.0, monotonic=clock, window_calls=4, min_calls=4)
    breaker.record_failure()
    breaker.record_failure()
    for _ in range(3):
        breaker.record_success()
    breaker.record_failure()
    # Without a window of 4 this would be 3 failures in 6 calls, which opens at a rate of one half.
    assert breaker.state is BreakerState.CLOSED


def test_outcomes_older_than_the_window_are_forgotten() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_s=5.0, monotonic=clock, window_s=30.0, min_calls=4)
    for _ in range(3):
        breaker.record_failure()
    breaker.record_success()
    clock.t += 31.0
    breaker.record_failure()
    # Counting the old outcomes, this would be 4 failures in 5 calls.
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_a_successful_probe_closes_the_circuit_with_an_empty_window() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=5, reset_s=5.0, monotonic=clock, min_calls=4)
    for _ in range(2):
        breaker.record_success()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.t += 5.0
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_outcomes_of_calls_under_way_when_the_circuit_opened_are_ignored() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_s=5.0, monotonic=clock)
    breaker.record_failure()
    breaker.record_success()
    assert breaker.state is BreakerState.OPEN
    clock.t += 3.0
    breaker.record_failure()
    clock.t += 2.0
    assert breaker.state is BreakerState.HALF_OPEN


def test_board_breakers_follow_the_settings() -> None:
    from leaim.config import Settings

    settings = Settings.from_env({"LEAIM_BREAKER_WINDOW_CALLS": "6", "LEAIM_BREAKER_MIN_CALLS": "2"})
    breaker = BreakerBoard.from_settings(settings, ManualClock()).for_target("a")
    assert (breaker.window_calls, breaker.min_calls, breaker.window_s, breaker.failure_rate) == (6, 2, 30.0, 0.5)
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
