"""Deadlines: every remote call gets less time than its caller has left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in time, held both as monotonic seconds (to measure) and wall milliseconds (to send)."""

    expires_monotonic: float
    expires_unix_ms: int
    monotonic: Callable[[], float]

    @classmethod
    def within(
        cls,
        budget_ms: float,
        *,
        now: float,
        monotonic: Callable[[], float],
        remaining_ms: float | None = None,
        margin_ms: float = 0.0,
    ) -> Deadline:
        """The earlier of `budget_ms` from now and the invocation's remaining time less `margin_ms`."""
        allowed = budget_ms if remaining_ms is None else min(budget_ms, remaining_ms - margin_ms)
        allowed = max(allowed, 0.0)
        return cls(monotonic() + allowed / 1000.0, int(now * 1000 + allowed), monotonic)

    def remaining_s(self) -> float:
        """Seconds left, never negative."""
        return max(self.expires_monotonic - self.monotonic(), 0.0)

    def expired(self) -> bool:
        """Whether no time is left."""
        return self.remaining_s() <= 0.0
