"""Rate plans: how many requests a key may send per second (with a burst) and per day.

A key names its plan when it is made (`leaim keys create --plan`); every API function enforces the plan of the
key it is called with, through the shared limiter (`leaim.governance.access.limits`), so that the limits hold
across all containers and are the same on `leaim up` as deployed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plan:
    """A key's limits: `rate_per_s` sustained with bursts of up to `burst` requests, `daily` per UTC day.

    None for `rate_per_s` or `daily` leaves that limit off. `throttle_on_abuse` lets the abuse monitor lower the
    key's rate on its own when it flags the key.
    """

    name: str
    rate_per_s: float | None
    burst: int
    daily: int | None
    throttle_on_abuse: bool = False

    @property
    def limited(self) -> bool:
        """Whether any limit applies, so that the limiter must be asked at all."""
        return self.rate_per_s is not None or self.daily is not None


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        # A trial integration: enough to build against, not to run a business on.
        Plan("trial", rate_per_s=5.0, burst=10, daily=10_000, throttle_on_abuse=True),
        # A business service in production.
        Plan("standard", rate_per_s=100.0, burst=200, daily=5_000_000, throttle_on_abuse=True),
        # A high-volume service; abuse alerts are raised but never throttle it on their own.
        Plan("bulk", rate_per_s=1000.0, burst=2000, daily=None),
        # People and the platform's own tooling (reviewers, auditors, engineers, local keys): no per-key limit;
        # the stage-wide API Gateway throttle still applies.
        Plan("internal", rate_per_s=None, burst=0, daily=None),
    )
}

DEFAULT_PLAN = "standard"
