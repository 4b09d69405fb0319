"""Steady decision traffic over the local API, open loop, and bursts of the same requests sent again.

Requests start at their instants whatever the latency (a closed loop would slow down with the path it
measures), each with a request id of its own; every one is recorded as an `Exchange` with its answer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from embedded.chaos.checks import Exchange
from embedded.clients.http import Sent, send
from embedded.demos.traffic import decision_request

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


# A Lambda client's patience with one decision on a machine this small: the API's own limit is 29 s.
DECISION_TIMEOUT_S = 30.0
# Decisions read back at once after a fault.
READERS = 4
# Requests in flight at most, as many sandboxes of the decision function as a 2-core machine runs well; past it,
# arrivals wait for a free connection.
CONNECTIONS = 6


class SteadyTraffic:
    """Decisions of `use_case` at `rate` per second, from `start()` to `stop()`; each answer an `Exchange`."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        use_case: str,
        inputs: Sequence[Mapping[str, object]],
        *,
        rate: float,
        prefix: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if not inputs:
            raise ValueError("steady traffic needs at least one input")
        self.api_url = api_url
        self.api_key = api_key
        self.use_case = use_case
        self.inputs = list(inputs)
        self.rate = rate
        self.prefix = prefix
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=CONNECTIONS, thread_name_prefix="chaos-traffic")
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._sent: dict[str, Sent] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def exchanges(self) -> list[Exchange]:
        """Every exchange answered so far."""
        with self._lock:
            return list(self._exchanges)

    def start(self) -> None:
        """Start sending, one request every 1 / rate seconds."""
        self._thread = threading.Thread(target=self._arrivals, name="chaos-arrivals", daemon=True)
        self._thread.start()

    def stop(self) -> list[Exchange]:
        """Stop sending and wait for every request in flight; the exchanges."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True)
        return self.exchanges

    def redeliver(self, count: int) -> None:
        """Send the last `count` requests sent so far again, all at once, as a redelivering client would."""
        with self._lock:
            again = list(self._sent.items())[-count:]
        for request_id, request in again:
            self._pool.submit(self._exchange, request_id, request, "duplicate")

    def _arrivals(self) -> None:
        started = self._clock()
        index = 0
        while not self._stopping.is_set():
            due = started + index / self.rate
            delay = due - self._clock()
            if delay > 0 and self._stopping.wait(delay):
                return
            request_id = f"{self.prefix}-{index}"
            request = decision_request(self.use_case, request_id, self.inputs[index % len(self.inputs)], self.api_key)
            with self._lock:
                self._sent[request_id] = request
            self._pool.submit(self._exchange, request_id, request, "steady")
            index += 1

    def _exchange(self, request_id: str, request: Sent, kind: str) -> None:
        sent_at = self._clock()
        try:
            answer = send(self.api_url, request, DECISION_TIMEOUT_S)
        except OSError:
            exchange = Exchange(request_id, sent_at, 0, self._clock() - sent_at, kind)
        else:
            body = answer.body
            exchange = Exchange(
                request_id,
                sent_at,
                answer.status,
                answer.seconds,
                kind,
                decision_id=_text(body.get("decision_id")),
                trace_id=_text(body.get("trace_id")),
                fallback=bool(body.get("fallback")),
                fallback_reason=_text(body.get("fallback_reason")),
                replay=answer.replay,
            )
        with self._lock:
            self._exchanges.append(exchange)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def read_back(api_url: str, api_key: str, decision_ids: Sequence[str]) -> set[str]:
    """Those of `decision_ids` that `GET /v1/decisions/{id}` answers."""

    def readable(decision_id: str) -> str | None:
        request = Sent("read", "GET", f"/v1/decisions/{decision_id}", b"", {"x-api-key": api_key})
        for _ in range(3):
            with contextlib.suppress(OSError):
                if send(api_url, request, 30).status == 200:
                    return decision_id
        return None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return {found for found in pool.map(readable, decision_ids) if found is not None}
