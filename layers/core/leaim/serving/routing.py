"""Which model versions serve a use case: the traffic plan, cached briefly, and the sticky canary split."""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leaim.domain.clock import Clock
    from leaim.serving.ports import ActiveModel, ModelRouter, TrafficPlan

BUCKETS = 10_000


def canary_bucket(use_case: str, routing_key: str) -> float:
    """A stable position in [0, 100) for a routing key: the same key lands on the same side of any split."""
    digest = hashlib.sha256(f"{use_case}\x00{routing_key}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") % BUCKETS) * 100.0 / BUCKETS


def serving_model(plan: TrafficPlan, use_case: str, routing_key: str) -> tuple[ActiveModel, str]:
    """The version that decides for `routing_key`, and its role: champion, or challenger under a canary."""
    challenger = plan.challenger
    if (
        challenger is not None
        and plan.policy == "canary"
        and canary_bucket(use_case, routing_key) < plan.canary_percent
    ):
        return challenger, "canary"
    return plan.champion, "champion"


class CachedModelRouter:
    """Remembers each use case's traffic plan for `ttl_s`; a promotion or rollback is seen within that time."""

    def __init__(self, router: ModelRouter, clock: Clock, ttl_s: float) -> None:
        self._router = router
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, TrafficPlan | None]] = {}
        self._lock = threading.Lock()

    def plan(self, use_case: str) -> TrafficPlan | None:
        """The traffic plan, from the cache while it is fresh."""
        now = self._clock.monotonic()
        with self._lock:
            cached = self._cache.get(use_case)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        plan = self._router.plan(use_case)
        with self._lock:
            self._cache[use_case] = (now, plan)
        return plan

    def forget(self) -> None:
        """Drop every cached plan, so that the next decision of each use case reads its plan again."""
        with self._lock:
            self._cache.clear()
