"""Calls to Modal abandoned at their deadline are capped per container: past the cap a call fails at once."""

from __future__ import annotations

import threading
import time
import tracemalloc
from types import SimpleNamespace
from typing import Any

import modal
import pytest

from contracts.inference.v1 import InferenceRequest, InferenceResult, RowScore
from leaim.exceptions import ConfigurationError, WorkerError, WorkerTimeoutError
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerState
from leaim.serving.workers import BoundedCalls, ModalWorkerClient
from tests.support.fakes import PII_KEY, World, decide

DIGEST = "cd" * 32


def call_threads(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


def until_answered(calls: BoundedCalls, attempts: int = 3000) -> str:
    """Call until a thread is free again (the hung calls end on their own threads, a moment later)."""
    for _ in range(attempts):
        try:
            return calls.run(lambda: "answered", 30.0, "call after the hung ones ended")
        except WorkerError:
            time.sleep(0.01)
    raise AssertionError("no thread became free after the hung calls ended")


class UnreachableModal:
    """The remote `score` of the inference class: while Modal is down each call hangs until it is ended,
    as a real one hangs for about a minute before the client gives up; once up, it answers."""

    def __init__(self) -> None:
        self.up = False
        self._hanging: list[threading.Event] = []
        self._lock = threading.Lock()

    def remote(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.up:
            ended = threading.Event()
            with self._lock:
                self._hanging.append(ended)
            ended.wait()
            raise ConnectionError("Modal is unreachable")
        request = InferenceRequest.model_validate(payload)
        return InferenceResult(
            request_id=request.request_id,
            model_name=request.model_name,
            model_version=request.model_version,
            artifact_digest=request.artifact_digest,
            results=[RowScore(score=0.25, contributions=[])],
            worker="fake-modal",
            batch_size=1,
            duration_ms=1.0,
            trace_id="0" * 32,
            span_id="0" * 16,
        ).model_dump(mode="json")

    def end_oldest(self) -> None:
        """The oldest hung call gives up, as the Modal client does after its own timeout."""
        with self._lock:
            if self._hanging:
                self._hanging.pop(0).set()

    def end_all(self) -> None:
        with self._lock:
            hanging, self._hanging = self._hanging, []
        for ended in hanging:
            ended.set()


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> UnreachableModal:
    fake = UnreachableModal()

    def from_name(app_name: str, name: str, environment_name: str) -> Any:
        return lambda artifact_digest: SimpleNamespace(score=fake)

    monkeypatch.setattr(modal.Cls, "from_name", from_name)
    yield fake
    fake.up = True
    fake.end_all()


def request(request_id: str) -> InferenceRequest:
    return InferenceRequest(
        request_id=request_id,
        model_name="card-fraud",
        model_version="v1",
        artifact_digest=DIGEST,
        feature_names=["f0"],
        rows=[[1.0]],
        deadline_unix_ms=0,
    )


def test_calls_past_the_cap_fail_at_once_and_start_no_thread() -> None:
    release = threading.Event()
    calls = BoundedCalls(3, thread_name="test-capped-call")
    try:
        for _ in range(3):
            with pytest.raises(WorkerTimeoutError):
                calls.run(release.wait, 0.001, "hung call")
        assert len(call_threads("test-capped-call")) == 3
        for _ in range(20):
            # With a free thread this call would wait its whole minute and end as a timeout.
            with pytest.raises(WorkerError, match="3 calls are still running") as refused:
                calls.run(release.wait, 60.0, "refused call")
            assert not isinstance(refused.value, WorkerTimeoutError)
        assert len(call_threads("test-capped-call")) == 3
    finally:
        release.set()
    assert until_answered(calls) == "answered"
    assert len(call_threads("test-capped-call")) == 3


def test_a_failed_call_frees_its_thread_for_the_next() -> None:
    calls = BoundedCalls(1, thread_name="test-failing-call")

    def fail() -> None:
        raise ConnectionError("refused")

    for _ in range(5):
        with pytest.raises(WorkerError, match="ConnectionError: refused"):
            calls.run(fail, 30.0, "failing call")
    assert until_answered(calls) == "answered"
    assert len(call_threads("test-failing-call")) == 1


def test_the_cap_is_at_least_one_call() -> None:
    with pytest.raises(ConfigurationError):
        BoundedCalls(0)


def test_a_long_outage_under_steady_traffic_keeps_the_threads_bounded_and_the_client_recovers(
    remote: UnreachableModal,
) -> None:
    calls = BoundedCalls(4, thread_name="test-outage-call")
    client = ModalWorkerClient("leaim-inference", "leaim-training", "main", calls)
    timeouts = refusals = most_threads = 0
    tracemalloc.start()
    for index in range(600):
        if index == 200:
            steady = tracemalloc.get_traced_memory()[0]
        try:
            client.score(request(f"r-{index}"), timeout_s=0.002)
        except WorkerTimeoutError:
            timeouts += 1
        except WorkerError as error:
            assert "4 calls are still running" in str(error)
            refusals += 1
        most_threads = max(most_threads, len(call_threads("test-outage-call")))
        if index % 10 == 9:
            remote.end_oldest()
    grown = tracemalloc.get_traced_memory()[0] - steady
    tracemalloc.stop()
    assert most_threads == 4
    # Every call failed; only those that found a free thread reached Modal, the others failed at once.
    assert timeouts + refusals == 600 and refusals >= 450
    # Memory is flat too: the outage's calls leave tens of kB at most (a thread per call would hold 1.3 MB).
    assert grown < 256 * 1024

    remote.up = True
    remote.end_all()
    for _ in range(3000):
        try:
            result = client.score(request("r-back"), timeout_s=30.0)
            break
        except WorkerError:
            time.sleep(0.01)
    else:
        raise AssertionError("the client did not recover once Modal was back")
    assert result.results[0].score == 0.25
    assert len(call_threads("test-outage-call")) == 4


def test_decisions_through_an_outage_fall_back_and_recover_within_one_breaker_reset(
    remote: UnreachableModal,
) -> None:
    world = World()  # the version's circuit opens after two failures and waits 30 s
    calls = BoundedCalls(2, thread_name="test-decision-call")
    world.service = DecisionService(
        catalog=world.catalog,
        features=world.features,
        router=world.router,
        stops=world.stops,
        workers=ModalWorkerClient("leaim-inference", "leaim-training", "main", calls),
        audit_log=world.audit,
        decisions=world.audit,
        overrides=world.audit,
        telemetry=world.telemetry,
        clock=world.clock,
        breakers=world.breakers,
        pii_key=PII_KEY,
        deadline_margin_ms=50,
    )

    def reason(request_id: str) -> str | None:
        return decide(world, request_id)[0].response.fallback_reason

    assert all("WorkerTimeoutError" in (reason(f"r-{index}") or "") for index in range(2))
    assert "CircuitOpenError" in (reason("r-open") or "")
    # The probe finds both threads held by hung calls: it fails at once, and the circuit opens again.
    world.clock.mono += 30.0
    assert "calls are still running" in (reason("r-probe-full") or "")
    assert "CircuitOpenError" in (reason("r-open-again") or "")

    remote.up = True
    remote.end_all()
    until_answered(calls)
    world.clock.mono += 30.0
    assert reason("r-back") is None
    assert world.breakers.for_target(world.model.artifact_digest).state is BreakerState.CLOSED
    assert reason("r-after") is None
