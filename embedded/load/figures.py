"""A step's figures from what the generator saw, and the latency elasticity of a ramp.

Only the measured window counts: the arrivals scheduled after the step's warm-up, and the answers that came
in during the window. For a step of `duration_s` seconds:

- offered rate: arrivals scheduled in the window / duration (the step's rate, by construction);
- achieved rate: answers of any status received in the window / duration (what the server completed);
- decisions/s: 2xx answers received in the window / duration (fallbacks included: they are decisions);
- latency p50/p95/p99: from each measured arrival's scheduled instant to its answer, errors included;
- errors: measured arrivals answered other than 2xx, and those with no answer at all (transport errors);
- fallbacks: measured arrivals answered 2xx with `fallback: true`;
- audit lag: from a sampled decision's answer until the audit search finds its event.

A step is sustained when it achieved at least 95% of its offered rate, with no error, and a p99 under the
latency budget. The latency elasticity is the p99 at the highest sustained rate over the p99 at the lowest
rate, counting only the steps from the lowest up to the first one that was not sustained.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from embedded.demos.traffic import percentile

if TYPE_CHECKING:
    from collections.abc import Sequence

    from embedded.load.plan import StepRun

SUSTAINED_SHARE = 0.95


@dataclass(frozen=True, slots=True)
class StepFigures:
    """What one step of the ramp measured."""

    rate: float
    duration_s: float
    sent: int
    offered_rate: float
    achieved_rate: float
    decisions_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    # How late the generator started the measured arrivals: the check that the schedule was kept.
    start_lag_p99_ms: float
    non_2xx: int
    transport_errors: int
    fallbacks: int
    audit_sampled: int
    audit_found: int
    audit_lag_p50_s: float | None
    audit_lag_max_s: float | None
    # The non-2xx answers by status and error code, and what stopped the requests that got no answer by kind
    # (the exception's type), each with its count.
    non_2xx_statuses: tuple[tuple[str, int], ...] = ()
    transport_error_kinds: tuple[tuple[str, int], ...] = ()

    @property
    def errors(self) -> int:
        """Non-2xx answers and requests that got no answer."""
        return self.non_2xx + self.transport_errors

    def sustained(self, budget_ms: float) -> bool:
        """At least 95% of the offered rate achieved, no error, and p99 under `budget_ms`."""
        return (
            self.achieved_rate >= SUSTAINED_SHARE * self.offered_rate and self.errors == 0 and self.p99_ms < budget_ms
        )


def step_figures(run: StepRun) -> StepFigures:
    """The figures of one step's measured window."""
    step = run.step
    start, end = step.warmup_s, step.warmup_s + step.duration_s
    measured = [arrival for arrival in run.arrivals if arrival.scheduled_s >= start - 1e-9]
    answered_in_window = [
        arrival for arrival in run.arrivals if arrival.answered_s is not None and start <= arrival.answered_s <= end
    ]
    latencies_ms = [arrival.latency_s * 1000 for arrival in measured if arrival.latency_s is not None]
    lags = sorted(lag for lag in run.audit_lags_s if lag is not None)
    return StepFigures(
        rate=step.rate,
        duration_s=step.duration_s,
        sent=len(run.arrivals),
        offered_rate=len(measured) / step.duration_s,
        achieved_rate=len(answered_in_window) / step.duration_s,
        decisions_per_s=sum(1 for arrival in answered_in_window if 200 <= arrival.status < 300) / step.duration_s,
        p50_ms=percentile(latencies_ms, 0.50),
        p95_ms=percentile(latencies_ms, 0.95),
        p99_ms=percentile(latencies_ms, 0.99),
        start_lag_p99_ms=percentile([(a.sent_s - a.scheduled_s) * 1000 for a in measured], 0.99),
        non_2xx=sum(1 for arrival in measured if arrival.status and not 200 <= arrival.status < 300),
        transport_errors=sum(1 for arrival in measured if not arrival.status),
        fallbacks=sum(1 for arrival in measured if 200 <= arrival.status < 300 and arrival.fallback),
        audit_sampled=len(run.audit_lags_s),
        audit_found=len(lags),
        audit_lag_p50_s=percentile(lags, 0.50) if lags else None,
        audit_lag_max_s=lags[-1] if lags else None,
        non_2xx_statuses=tuple(
            sorted(
                Counter(
                    f"{a.status} {a.error or ''}".strip() for a in measured if a.status and not 200 <= a.status < 300
                ).items()
            )
        ),
        transport_error_kinds=tuple(
            sorted(Counter((a.error or "no answer").split(":")[0] for a in measured if not a.status).items())
        ),
    )


@dataclass(frozen=True, slots=True)
class Elasticity:
    """The ramp's latency elasticity: p99 at the highest sustained rate over p99 at the lowest rate.

    `highest` is None, and so is the ratio, when even the lowest rate was not sustained.
    """

    lowest: StepFigures
    highest: StepFigures | None

    @property
    def ratio(self) -> float | None:
        """The elasticity; None without a sustained step or with a p99 of zero at the lowest rate."""
        if self.highest is None or not self.lowest.p99_ms:
            return None
        return self.highest.p99_ms / self.lowest.p99_ms


def latency_elasticity(steps: Sequence[StepFigures], budget_ms: float) -> Elasticity:
    """The elasticity of a ramp of rising rates, judged against the latency budget `budget_ms`."""
    if not steps:
        raise ValueError("a ramp has at least one step")
    highest: StepFigures | None = None
    for figures in steps:
        if not figures.sustained(budget_ms):
            break
        highest = figures
    return Elasticity(lowest=steps[0], highest=highest)
