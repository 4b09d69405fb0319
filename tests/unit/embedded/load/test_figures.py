"""A step's figures come from its measured window only, and the elasticity from the ramp's sustained steps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from embedded.load.figures import StepFigures, latency_elasticity, step_figures
from embedded.load.plan import Arrival, LoadStep, StepRun

BUDGET_MS = 250.0


def steady(rate: float, latency_s: float, *, warmup_s: float = 1.0, duration_s: float = 2.0) -> StepRun:
    """A step whose every request was answered 200 after `latency_s`."""
    step = LoadStep(rate=rate, duration_s=duration_s, warmup_s=warmup_s)
    arrivals = [
        Arrival(
            scheduled_s=step.offset_s(i), sent_s=step.offset_s(i), answered_s=step.offset_s(i) + latency_s, status=200
        )
        for i in range(step.arrivals)
    ]
    return StepRun(step=step, arrivals=arrivals)


def figures(rate: float, p99_ms: float, *, achieved: float | None = None, errors: int = 0) -> StepFigures:
    return StepFigures(
        rate=rate,
        duration_s=10,
        sent=int(rate * 10),
        offered_rate=rate,
        achieved_rate=rate if achieved is None else achieved,
        decisions_per_s=rate,
        p50_ms=p99_ms / 2,
        p95_ms=p99_ms * 0.9,
        p99_ms=p99_ms,
        start_lag_p99_ms=0.1,
        non_2xx=errors,
        transport_errors=0,
        fallbacks=0,
        audit_sampled=0,
        audit_found=0,
        audit_lag_p50_s=None,
        audit_lag_max_s=None,
    )


def test_a_step_that_keeps_up_achieves_its_offered_rate_over_its_window() -> None:
    result = step_figures(steady(10, 0.02))

    assert result.sent == 30
    assert result.offered_rate == 10
    assert result.achieved_rate == 10
    assert result.decisions_per_s == 10
    assert result.p50_ms == pytest.approx(20)
    assert result.p99_ms == pytest.approx(20)
    assert result.errors == result.fallbacks == 0
    assert result.sustained(BUDGET_MS)


def test_latency_runs_from_the_scheduled_instant_so_a_late_start_counts() -> None:
    step = LoadStep(rate=2, duration_s=1)
    late = [Arrival(scheduled_s=0.0, sent_s=0.3, answered_s=0.35, status=200), Arrival(0.5, 0.5, 0.55, 200)]

    result = step_figures(StepRun(step=step, arrivals=late))

    assert result.p99_ms == pytest.approx(350)
    assert result.p50_ms == pytest.approx(50)
    assert result.start_lag_p99_ms == pytest.approx(300)


def test_errors_fallbacks_and_audit_lags_are_counted_in_the_window_only() -> None:
    step = LoadStep(rate=4, duration_s=1, warmup_s=1)
    arrivals = [
        Arrival(0.0, 0.0, 0.1, 503),  # in the warm-up: not counted
        Arrival(0.25, 0.25, 0.3, 200),
        Arrival(0.5, 0.5, 0.6, 200),
        Arrival(0.75, 0.75, 0.8, 200),
        Arrival(1.0, 1.0, 1.1, 200, fallback=True, decision_id="d-1"),
        Arrival(1.25, 1.25, 1.3, 500, error="internal_error"),
        Arrival(1.5, 1.5, None, 0),
        Arrival(1.75, 1.75, 1.8, 200, decision_id="d-2"),
    ]

    result = step_figures(StepRun(step=step, arrivals=arrivals, audit_lags_s=[0.4, None, 1.2]))

    assert result.sent == 8
    assert result.offered_rate == 4
    assert (result.non_2xx, result.transport_errors, result.errors) == (1, 1, 2)
    assert result.non_2xx_statuses == (("500 internal_error", 1),)
    assert result.transport_error_kinds == (("no answer", 1),)
    assert result.fallbacks == 1
    assert result.achieved_rate == 3  # three answers came in during the window (1.1, 1.3 and 1.8 s)
    assert result.decisions_per_s == 2
    assert (result.audit_sampled, result.audit_found) == (3, 2)
    assert result.audit_lag_p50_s == 0.4
    assert result.audit_lag_max_s == 1.2
    assert not result.sustained(BUDGET_MS)


def test_a_server_that_falls_behind_achieves_less_than_it_is_offered() -> None:
    # Answers come back one every 0.2 s whatever the arrivals: half the offered 10/s.
    step = LoadStep(rate=10, duration_s=2, warmup_s=0)
    arrivals = [Arrival(i / 10, i / 10, 0.2 * (i + 1), 200) for i in range(20)]

    result = step_figures(StepRun(step=step, arrivals=arrivals))

    assert result.achieved_rate == 5
    assert not result.sustained(BUDGET_MS)


def test_elasticity_is_p99_at_the_highest_sustained_rate_over_p99_at_the_lowest() -> None:
    ramp = [figures(10, 20), figures(50, 30), figures(100, 60), figures(200, 900)]

    elasticity = latency_elasticity(ramp, BUDGET_MS)

    assert elasticity.lowest.rate == 10
    assert elasticity.highest is not None
    assert elasticity.highest.rate == 100
    assert elasticity.ratio == pytest.approx(3.0)


def test_the_first_step_not_sustained_ends_the_sustained_ramp() -> None:
    # 50/s lost requests; 100/s recovered, but a ramp is sustained only up to its first failure.
    ramp = [figures(10, 20), figures(50, 30, errors=1), figures(100, 40)]

    elasticity = latency_elasticity(ramp, BUDGET_MS)

    assert elasticity.highest == ramp[0]
    assert elasticity.ratio == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("lowest", "why"),
    [
        (figures(10, 300), "p99 over the budget"),
        (figures(10, 20, achieved=9.4), "under 95% of the offered rate"),
        (figures(10, 20, errors=1), "an error"),
    ],
)
def test_without_a_sustained_lowest_rate_there_is_no_elasticity(lowest: StepFigures, why: str) -> None:
    elasticity = latency_elasticity([lowest, replace(lowest, rate=20, offered_rate=20)], BUDGET_MS)

    assert elasticity.highest is None, why
    assert elasticity.ratio is None


def test_95_percent_of_the_offered_rate_is_still_sustained() -> None:
    assert figures(10, 20, achieved=9.5).sustained(BUDGET_MS)
    assert not figures(10, BUDGET_MS).sustained(BUDGET_MS)
