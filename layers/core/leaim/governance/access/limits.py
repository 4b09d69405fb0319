"""Per-key rate limits and daily quotas: whether a request of a key may be served now, and if not, for how long not.

The limiter (`leaim.adapters.dynamodb_limits.DynamoRateLimiter`) keeps one shared state per key, so a plan holds
across every container of every function; `RateLimits` turns its verdict into the 429 the caller gets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from leaim.governance.access.exceptions import RateLimitedError
from leaim.governance.access.plans import PLANS

if TYPE_CHECKING:
    from leaim.governance.access.plans import Plan
    from leaim.governance.ports import Principal

Limit = Literal["rate", "daily", "abuse"]


@dataclass(frozen=True, slots=True)
class Admission:
    """A limiter's verdict: admitted, or refused by `limit` for `retry_after_s` seconds.

    `abuse` is the lowered rate of a key the abuse monitor throttled (`KeyThrottle`).
    """

    admitted: bool
    limit: Limit | None = None
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    """Shared state of every key's limits."""

    def admit(self, key_id: str, plan: Plan) -> Admission:
        """Count one request of `key_id` against `plan`, unless a limit refuses it (then nothing is counted)."""
        ...


class KeyThrottle(Protocol):
    """Lowers a key's rate for a while: the abuse monitor's hold on a key whose plan throttles on abuse."""

    def throttle(self, key_id: str, *, rate_per_s: float, burst: int, until: float) -> None:
        """Hold `key_id` to `rate_per_s` with bursts of `burst` until the epoch second `until` (a renewal extends)."""
        ...


class RateLimits:
    """Every keyed route's check of the caller's plan, after authentication and before any work."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    def check(self, principal: Principal) -> None:
        """Raise RateLimitedError (429, with the seconds to wait) when the caller's key is over its plan."""
        if principal.key_id is None or principal.plan is None:
            return
        plan = PLANS.get(principal.plan)
        if plan is None or not plan.limited:
            return
        admission = self._limiter.admit(principal.key_id, plan)
        if admission.admitted:
            return
        wait = max(1, math.ceil(admission.retry_after_s))
        if admission.limit == "daily":
            message = f"key {principal.key_id} has used its {plan.daily} requests of today (plan {plan.name})"
        elif admission.limit == "abuse":
            message = f"key {principal.key_id} is throttled after an abuse alert (plan {plan.name})"
        else:
            message = (
                f"key {principal.key_id} is over {plan.rate_per_s:g} requests/s with bursts of {plan.burst} "
                f"(plan {plan.name})"
            )
        raise RateLimitedError(f"{message}: retry in {wait} s", retry_after_s=wait, limit=admission.limit or "rate")
