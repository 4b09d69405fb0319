"""The load generator is open loop: arrivals keep their schedule however slowly the server answers.

A closed loop of N users sends at most N / latency requests per second; against a server that takes 1.5 s to
answer, ten users would start about 7 requests a second. The generator must start rate x duration requests
at their instants whatever the latency, and measure each latency from its scheduled instant.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from embedded.load.exceptions import LoadPlanError
from embedded.load.figures import step_figures
from embedded.load.launch import run_generator
from embedded.load.plan import Arrival, LoadPlan, LoadStep

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SLOW_ANSWER_S = 1.5


class SlowServer:
    """A local HTTP server that answers every POST after `SLOW_ANSWER_S` and notes when each request arrived."""

    def __init__(self, status: int = 200) -> None:
        self.arrived: list[float] = []
        self.bodies: list[dict[str, Any]] = []
        self.status = status
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with lock:
                    server.arrived.append(time.monotonic())
                    server.bodies.append(body)
                time.sleep(SLOW_ANSWER_S)
                answer = json.dumps({"decision_id": f"d-{body['request_id']}", "fallback": False}).encode()
                self.send_response(server.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.http.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def __enter__(self) -> SlowServer:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def slow_server() -> Iterator[SlowServer]:
    with SlowServer() as server:
        yield server


def in_flight_peak(arrivals: Sequence[Arrival]) -> int:
    """The most requests sent and not yet answered at one instant, by the generator's own clock."""
    changes = sorted(
        [(arrival.sent_s, 1) for arrival in arrivals]
        + [(arrival.answered_s, -1) for arrival in arrivals if arrival.answered_s is not None],
        key=lambda change: (change[0], change[1]),
    )
    peak = current = 0
    for _, change in changes:
        current += change
        peak = max(peak, current)
    return peak


def plan_for(url: str, steps: list[LoadStep], **options: Any) -> LoadPlan:
    return LoadPlan(
        api_url=url,
        path="/v1/decisions/card_fraud",
        headers={"content-type": "application/json"},
        inputs=[{"amount": 1.0}, {"amount": 2.0}],
        request_prefix="open-loop",
        steps=steps,
        connections=100,
        timeout_s=10.0,
        **options,
    )


def test_a_slow_server_is_sent_rate_times_duration_requests_on_schedule(slow_server: SlowServer) -> None:
    run = run_generator(plan_for(slow_server.url, [LoadStep(rate=20, duration_s=2.0)]))

    [step] = run.steps
    assert len(slow_server.arrived) == 40
    assert len(step.arrivals) == 40
    # Not held back by the 1.5 s answers: requests kept being sent while earlier ones waited for theirs. A loop
    # that waits for its answers has one request in flight per user; on schedule, about 30 are at once. (How many
    # exactly depends on how busy the machine is, hence the margin; no wall-clock bound is asserted.)
    assert in_flight_peak(step.arrivals) >= 10
    assert [arrival.scheduled_s for arrival in step.arrivals] == pytest.approx([i / 20 for i in range(40)])
    assert all(arrival.status == 200 for arrival in step.arrivals)
    assert all((arrival.latency_s or 0) >= SLOW_ANSWER_S for arrival in step.arrivals)
    assert [arrival.decision_id for arrival in step.arrivals] == [f"d-open-loop-0-{i}" for i in range(40)]
    assert run.locust_requests == 40
    assert run.locust_failures == 0


def test_each_step_keeps_its_own_rate_and_the_warm_up_counts_in_what_is_sent(slow_server: SlowServer) -> None:
    run = run_generator(
        plan_for(slow_server.url, [LoadStep(rate=4, duration_s=1.0, warmup_s=0.5), LoadStep(rate=10, duration_s=1.0)])
    )

    assert [len(step.arrivals) for step in run.steps] == [6, 10]
    assert len(slow_server.arrived) == 16
    assert {body["request_id"] for body in slow_server.bodies} == {
        *(f"open-loop-0-{i}" for i in range(6)),
        *(f"open-loop-1-{i}" for i in range(10)),
    }


def test_answers_other_than_2xx_and_no_answer_at_all_are_recorded_as_such() -> None:
    with SlowServer(status=503) as failing:
        run = run_generator(plan_for(failing.url, [LoadStep(rate=5, duration_s=1.0)]))
    refused = run_generator(plan_for("http://127.0.0.1:9", [LoadStep(rate=5, duration_s=1.0)]))

    assert [arrival.status for arrival in run.steps[0].arrivals] == [503] * 5
    assert run.locust_failures == 5
    assert [(arrival.status, arrival.answered_s) for arrival in refused.steps[0].arrivals] == [(0, None)] * 5
    assert {arrival.error for arrival in refused.steps[0].arrivals} == {
        "ConnectionRefusedError: [Errno 111] Connection refused"
    }
    assert step_figures(refused.steps[0]).transport_error_kinds == (("ConnectionRefusedError", 5),)


def test_a_plan_that_cannot_run_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(LoadPlanError, match=r"the rates must rise step by step: 5/s comes after 10/s"):
        plan_for("http://127.0.0.1:9", [LoadStep(rate=10, duration_s=1), LoadStep(rate=5, duration_s=1)])
    with pytest.raises(LoadPlanError, match=r"1/s for a window of 0.5 s after 0.6 s of warm-up measures no request"):
        plan_for("http://127.0.0.1:9", [LoadStep(rate=1, duration_s=0.5, warmup_s=0.6)])
    with pytest.raises(LoadPlanError, match="positive rate and duration"):
        plan_for("http://127.0.0.1:9", [LoadStep(rate=0, duration_s=1)])
    with pytest.raises(LoadPlanError, match="auditor"):
        plan_for("http://127.0.0.1:9", [LoadStep(rate=1, duration_s=1)], audit_samples=2)
    with pytest.raises(LoadPlanError, match="must be an http:// or https:// URL, not 'localhost:3000'"):
        plan_for("localhost:3000", [LoadStep(rate=1, duration_s=1)])
