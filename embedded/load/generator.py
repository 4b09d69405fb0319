"""The open-loop load generator, Locust in library mode: `python -m embedded.load.generator PLAN.json RUNS.json`.

Locust's users are closed loops: each waits for its answer before its next task, so a slower server is sent
fewer requests (`constant_throughput` only holds while answers come faster than its pace). Here a single
Locust user is the dispatcher: for each step it starts request `i` in a greenlet of its own at `i / rate`
seconds after the step began, whether or not the earlier ones have answered, so the number started is
rate x duration whatever the latency. Requests go through Locust's HTTP client (geventhttpclient, with a
pool of the plan's connections) and are counted by Locust's statistics; each one's latency is measured
from its scheduled instant, so a wait for a free connection counts. After each step the dispatcher waits
for that step's answers and audit polls before the next rate begins.

Importing this module patches the standard library for gevent (Locust does it on import), so it runs in a
process of its own; `embedded.load.launch` starts it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.pool
from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import StopUser

from embedded.load.plan import Arrival, GeneratorRun, LoadPlan, StepRun

if TYPE_CHECKING:
    from collections.abc import Sequence

    from embedded.load.plan import LoadStep

DECISION_NAME = "POST decision"
AUDIT_NAME = "GET audit search"


class _Recorder:
    """What the dispatcher saw, step by step; read once the ramp is over."""

    def __init__(self) -> None:
        self.steps: list[StepRun] = []
        self.finished = gevent.event.Event()
        self.error: BaseException | None = None


def _dispatcher(plan: LoadPlan, recorder: _Recorder) -> type[FastHttpUser]:
    """The Locust user class that runs `plan`'s ramp once and records it into `recorder`."""

    class OpenLoopDispatcher(FastHttpUser):
        host = plan.api_url
        concurrency = plan.connections
        network_timeout = plan.timeout_s
        connection_timeout = plan.timeout_s

        @task
        def ramp(self) -> None:
            audit = FastHttpSession(
                plan.api_url,
                request_event=self.environment.events.request,
                user=self,
                concurrency=max(plan.audit_samples, 1),
                network_timeout=plan.timeout_s,
                connection_timeout=plan.timeout_s,
            )
            try:
                first_input = 0
                for index, step in enumerate(plan.steps):
                    recorder.steps.append(_run_step(self, audit, plan, index, step, first_input))
                    first_input += step.arrivals
            except Exception as error:
                recorder.error = error
            finally:
                recorder.finished.set()
            raise StopUser

    return OpenLoopDispatcher


def _run_step(
    user: FastHttpUser, audit: FastHttpSession, plan: LoadPlan, index: int, step: LoadStep, first_input: int
) -> StepRun:
    """Start the step's arrivals on schedule, each in a greenlet, and wait for their answers and audit polls.

    The step sends the plan's inputs on from `first_input`, where the steps before it stopped.
    """
    arrivals: list[Arrival | None] = [None] * step.arrivals
    sampled = set(_sampled(step, plan.audit_samples))
    lags: dict[int, float | None] = {}
    group = gevent.pool.Group()
    spawned: list[gevent.Greenlet] = []
    started = time.perf_counter()

    def send(number: int, scheduled: float) -> None:
        inputs = dict(plan.inputs[(first_input + number) % len(plan.inputs)])
        body = json.dumps({"request_id": f"{plan.request_prefix}-{index}-{number}", "inputs": inputs})
        sent = time.perf_counter() - started
        with user.client.post(
            plan.path, data=body, headers=dict(plan.headers), name=DECISION_NAME, catch_response=True
        ) as response:
            answered = time.perf_counter()
            status = int(response.status_code or 0)
            answer = _json(response.content)
            if not status:
                error: str | None = _transport_error(getattr(response, "error", None))
            else:
                error = None if 200 <= status < 300 else _answered_error(answer, response.content)
            if 200 <= status < 300:
                response.success()
            else:
                response.failure(error or f"HTTP {status}")
        decision_id = answer.get("decision_id")
        arrivals[number] = Arrival(
            scheduled_s=scheduled,
            sent_s=sent,
            answered_s=answered - started if status else None,
            status=status,
            fallback=200 <= status < 300 and answer.get("fallback") is True,
            decision_id=decision_id if 200 <= status < 300 and isinstance(decision_id, str) else None,
            error=error,
        )
        # A sampled request that was not decided has no audit event of a decision to look for.
        if number in sampled and isinstance(decision_id, str):
            lags[number] = _audit_lag(audit, plan, decision_id, answered)

    for number in range(step.arrivals):
        scheduled = step.offset_s(number)
        wait = scheduled - (time.perf_counter() - started)
        if wait > 0:
            gevent.sleep(wait)
        spawned.append(group.spawn(send, number, scheduled))
    group.join()
    # A request whose greenlet failed would be missing from the count: the step fails instead.
    failed = [greenlet.exception for greenlet in spawned if greenlet.exception is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} requests of the {step.rate:g}/s step failed to run") from failed[0]
    recorded = [arrival for arrival in arrivals if arrival is not None]
    return StepRun(step=step, arrivals=recorded, audit_lags_s=[lags[number] for number in sorted(lags)])


def _sampled(step: LoadStep, samples: int) -> Sequence[int]:
    """The arrivals whose audit lag is measured: `samples` of them, spread evenly over the measured window."""
    first = step.first_measured
    measured = step.arrivals - first
    count = min(samples, measured)
    return [first + (measured * k) // count for k in range(count)] if count else []


def _audit_lag(audit: FastHttpSession, plan: LoadPlan, decision_id: str, answered: float) -> float | None:
    """Poll the audit search for the decision's event: seconds from its answer (`answered`, a `perf_counter`
    reading) until the search finds it; None when it does not within the plan's `audit_timeout_s`."""
    path = f"{plan.audit_path}?decision_id={decision_id}&action=decision.create&limit=1"
    while True:
        with audit.get(path, headers=dict(plan.audit_headers), name=AUDIT_NAME, catch_response=True) as response:
            found = response.status_code == 200 and bool(_json(response.content).get("records"))
            if response.status_code == 200:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")
        now = time.perf_counter()
        if found:
            return now - answered
        if now - answered > plan.audit_timeout_s:
            return None
        gevent.sleep(plan.audit_poll_s)


def _transport_error(error: object) -> str:
    """What stopped a request from getting an answer: the exception's type, and its message cut short."""
    if error is None:
        return "no answer"
    return f"{type(error).__name__}: {str(error)[:200]}"


def _answered_error(answer: dict[str, Any], content: bytes | None) -> str:
    """What a non-2xx answer said: its error code, or the start of its body when it has none."""
    code = answer.get("error") or answer.get("message")
    if isinstance(code, str):
        return code
    return (content or b"").decode("utf-8", "replace")[:100] or "no body"


def _json(content: bytes | None) -> dict[str, Any]:
    try:
        value = json.loads(content or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def run(plan: LoadPlan) -> GeneratorRun:
    """Run the ramp with Locust's local runner and one dispatcher user; raises what stopped the dispatcher."""
    recorder = _Recorder()
    environment = Environment(user_classes=[_dispatcher(plan, recorder)], host=plan.api_url)
    runner = environment.create_local_runner()
    runner.start(1, spawn_rate=1)
    recorder.finished.wait(timeout=plan.longest_s + 60)
    runner.quit()
    if recorder.error is not None:
        raise recorder.error
    if len(recorder.steps) != len(plan.steps):
        raise TimeoutError(f"the ramp did not end within {plan.longest_s + 60:.0f} s")
    total = environment.stats.total
    return GeneratorRun(recorder.steps, total.num_requests, total.num_failures)


def main(arguments: Sequence[str]) -> None:
    """Read the plan from the first path, run it, write the runs to the second."""
    plan_path, runs_path = (Path(argument) for argument in arguments)
    run(LoadPlan.read(plan_path)).write(runs_path)


if __name__ == "__main__":
    main(sys.argv[1:])
