"""Circuit breaker for worker targets: stop calling a failing worker, probe it again after a pause."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from leaim.config import Settings

# The sliding window's defaults: the last 20 calls of the last 30 s, judged once 10 are in it, open at half failing.
WINDOW_CALLS = 20
WINDOW_S = 30.0
MIN_CALLS = 10
FAILURE_RATE = 0.5


class BreakerState(StrEnum):
    """Closed: calls flow. Open: calls are refused. Half-open: one probe call is let through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens on `failure_threshold` consecutive failures, or on a failure rate over a sliding window.

    The window holds the outcomes of the last `window_calls` calls, forgetting those older than `window_s`;
    once it holds at least `min_calls`, a share of failures of `failure_rate` or more opens the circuit. So a
    target that fails every other call (round robin over one dead and one live worker) opens it, which the
    consecutive count alone never does. After `reset_s` one probe call is let through: its success closes the
    circuit with an empty window, its failure opens it for another pause. Outcomes of calls that were already
    under way when the circuit opened are ignored.

    Thread-safe: a Lambda container serves one request at a time, but the local stack and the
    queue consumer share one breaker across threads.
    """

    failure_threshold: int
    reset_s: float
    monotonic: Callable[[], float]
    window_calls: int = WINDOW_CALLS
    window_s: float = WINDOW_S
    min_calls: int = MIN_CALLS
    failure_rate: float = FAILURE_RATE
    _state: BreakerState = BreakerState.CLOSED
    _failures: int = 0
    _opened_at: float = 0.0
    _probing: bool = False
    # (when, failed) of recent calls, oldest first; its length bounds the memory a breaker holds.
    _window: deque[tuple[float, bool]] = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._window = deque(maxlen=self.window_calls)

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
        """A call succeeded: count it, and close the circuit if it was the probe."""
        with self._lock:
            state = self._current()
            self._probing = False
            if state is BreakerState.OPEN:
                return
            if state is BreakerState.HALF_OPEN:
                self._state = BreakerState.CLOSED
                self._window.clear()
            self._failures = 0
            self._window.append((self.monotonic(), False))

    def record_failure(self) -> None:
        """A call failed: count it, and open the circuit on either rule or when the probe fails."""
        with self._lock:
            state = self._current()
            self._probing = False
            if state is BreakerState.OPEN:
                return
            now = self.monotonic()
            self._failures += 1
            self._window.append((now, True))
            if state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold or self._rate_exceeded(now):
                self._state = BreakerState.OPEN
                self._opened_at = now

    def _rate_exceeded(self, now: float) -> bool:
        while self._window and now - self._window[0][0] > self.window_s:
            self._window.popleft()
        calls = len(self._window)
        if calls < self.min_calls:
            return False
        return sum(failed for _, failed in self._window) >= self.failure_rate * calls

    def _current(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self.monotonic() - self._opened_at >= self.reset_s:
            self._state = BreakerState.HALF_OPEN
        return self._state


@dataclass
class BreakerBoard:
    """One breaker per worker target (a model artifact, or a worker's URL), created on first use."""

    failure_threshold: int
    reset_s: float
    monotonic: Callable[[], float]
    window_calls: int = WINDOW_CALLS
    window_s: float = WINDOW_S
    min_calls: int = MIN_CALLS
    failure_rate: float = FAILURE_RATE
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings, monotonic: Callable[[], float]) -> BreakerBoard:
        """A board whose breakers follow the `LEAIM_BREAKER_*` settings."""
        return cls(
            settings.breaker_failure_threshold,
            settings.breaker_reset_s,
            monotonic,
            window_calls=settings.breaker_window_calls,
            window_s=settings.breaker_window_s,
            min_calls=settings.breaker_min_calls,
            failure_rate=settings.breaker_failure_rate,
        )

    def for_target(self, target: str) -> CircuitBreaker:
        """The breaker guarding `target`."""
        with self._lock:
            breaker = self._breakers.get(target)
            if breaker is None:
                breaker = CircuitBreaker(
                    self.failure_threshold,
                    self.reset_s,
                    self.monotonic,
                    window_calls=self.window_calls,
                    window_s=self.window_s,
                    min_calls=self.min_calls,
                    failure_rate=self.failure_rate,
                )
                self._breakers[target] = breaker
            return breaker
