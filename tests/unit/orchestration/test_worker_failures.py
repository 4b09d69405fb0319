"""The version's circuit under partial failure: round robin over one dead and one live worker opens it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leaim.exceptions import WorkerError
from leaim.serving.breaker import BreakerState
from tests.support.fakes import DIGEST, World, decide

if TYPE_CHECKING:
    from contracts.inference.v1 import InferenceRequest, InferenceResult


def round_robin_over_one_dead_worker(world: World) -> list[int]:
    """Make every other worker call fail, as round robin over a dead and a live worker does; count the calls."""
    score = world.worker.score
    calls: list[int] = []

    def alternate(request: InferenceRequest, timeout_s: float) -> InferenceResult:
        calls.append(1)
        if len(calls) % 2 == 1:
            raise WorkerError("worker http://127.0.0.1:9 failed: ConnectionRefusedError")
        return score(request, timeout_s)

    world.worker.score = alternate  # type: ignore[method-assign]
    return calls


def test_every_other_call_failing_opens_the_circuit_on_its_failure_rate() -> None:
    world = World()  # two consecutive failures would open it; alternating ones never are two in a row
    calls = round_robin_over_one_dead_worker(world)
    answers = [decide(world, f"r-{index}")[0].response for index in range(11)]
    # The window is judged from its tenth call on, at the next failure: 6 of 11.
    assert [answer.fallback for answer in answers] == [True, False] * 5 + [True]
    assert world.breakers.for_target(DIGEST).state is BreakerState.OPEN

    refused = decide(world, "r-open")[0].response
    assert refused.fallback and "CircuitOpenError" in (refused.fallback_reason or "")
    assert len(calls) == 11


def test_the_circuit_probes_after_its_pause_and_closes_once_the_worker_is_healthy() -> None:
    world = World()
    round_robin_over_one_dead_worker(world)
    for index in range(11):
        decide(world, f"r-{index}")
    assert world.breakers.for_target(DIGEST).state is BreakerState.OPEN

    del world.worker.score  # the dead worker is back: calls go to the fake's own scoring again
    world.clock.mono += 30.0
    probe = decide(world, "r-probe")[0].response
    assert not probe.fallback
    assert world.breakers.for_target(DIGEST).state is BreakerState.CLOSED
    assert not any(decide(world, f"r-after-{index}")[0].response.fallback for index in range(5))
