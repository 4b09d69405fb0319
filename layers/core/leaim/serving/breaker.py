"""Circuit breaker for worker targets: stop calling a failing worker, probe it again after a pause."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class BreakerState(StrEnum):
    """Closed: calls flow. Open: calls are refused. Half-open: one probe call is let through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; lets one probe through after `reset_s`.

    Thread-safe: a Lambda container serves one request at a time, but the local stack and the
    queue consumer share one breaker across threads.
    """

    failure_threshold: int
    reset_s: float
    monotonic: Callable[[], float]
    _state: BreakerState = BreakerState.CLOSED
    _failures: int = 0
    _opened_at: float = 0.0
    _probing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> BreakerState:
        """Current state, moving from open to half-open once the pause has passed."""
        with self._lock:
            return self._current()

    def allow(self) -> bool:
        """Whether a call may be attempted now; in half-open state only one probe is allowed."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def record_success(self) -> None:
        """A call succeeded: close the circuit."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._probing = False

    def record_failure(self) -> None:
        """A call failed: count it, and open the circuit at the threshold or when a probe fails."""
        with self._lock:
            state = self._current()
            self._failures += 1
            if state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self.monotonic()
            self._probing = False

    def _current(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self.monotonic() - self._opened_at >= self.reset_s:
            self._state = BreakerState.HALF_OPEN
        return self._state


@dataclass
class BreakerBoard:
    """One breaker per worker target (model artifact), created on first use."""

    failure_threshold: int
    reset_s: float
    monotonic: Callable[[], float]
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_target(self, target: str) -> CircuitBreaker:
        """The breaker guarding `target`."""
        with self._lock:
            breaker = self._breakers.get(target)
            if breaker is None:
                breaker = CircuitBreaker(self.failure_threshold, self.reset_s, self.monotonic)
                self._breakers[target] = breaker
            return breaker
