"""Which model version serves a use case, cached briefly per container to keep the registry off the hot path."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leaim.domain.clock import Clock
    from leaim.orchestration.ports import ActiveModel, ModelRouter


class CachedModelRouter:
    """Remembers each use case's active model for `ttl_s`; a promotion is seen within that time."""

    def __init__(self, router: ModelRouter, clock: Clock, ttl_s: float) -> None:
        self._router = router
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, ActiveModel | None]] = {}
        self._lock = threading.Lock()

    def active_model(self, use_case: str) -> ActiveModel | None:
        """The active model, from the cache while it is fresh."""
        now = self._clock.monotonic()
        with self._lock:
            cached = self._cache.get(use_case)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        model = self._router.active_model(use_case)
        with self._lock:
            self._cache[use_case] = (now, model)
        return model
