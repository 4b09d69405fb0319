"""The latency budget covers the whole answer: the worker call gets the budget less what the commit needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from leaim.exceptions import WorkerTimeoutError
from leaim.orchestration.decisions import COMMIT_RESERVE_MAX_SHARE, COMMIT_SAMPLES, DecisionService
from tests.support.fakes import PII_KEY, World, decide

if TYPE_CHECKING:
    from contracts.inference.v1 import InferenceRequest, InferenceResult

BUDGET_MS = 250.0  # card_fraud's manifest
RESERVE_MS = 20.0


class TimedWorld(World):
    """A world whose service keeps a commit reserve, and whose steps take time on its manual clock."""

    def __init__(self) -> None:
        super().__init__()
        self.enrich_ms = 0.0
        self.commit_ms = 0.0
        self.timeouts: list[float] = []
        self.slow = False
        features_get, record_decision, score = self.features.get, self.audit.record_decision, self.worker.score

        def timed_get(use_case: str, entity_id: str):
            self.clock.mono += self.enrich_ms / 1000.0
            return features_get(use_case, entity_id)

        def timed_commit(*args, **kwargs) -> None:
            self.clock.mono += self.commit_ms / 1000.0
            record_decision(*args, **kwargs)

        def timed_score(request: InferenceRequest, timeout_s: float) -> InferenceResult:
            self.timeouts.append(timeout_s)
            if self.slow:
                # A worker that never answers: the client gives up at the timeout it was given.
                self.clock.mono += timeout_s
                raise WorkerTimeoutError(f"no answer within {timeout_s:.3f} s")
            return score(request, timeout_s)

        self.features.get = timed_get  # type: ignore[method-assign]
        self.audit.record_decision = timed_commit  # type: ignore[method-assign]
        self.worker.score = timed_score  # type: ignore[method-assign]
        self.service = DecisionService(
            catalog=self.catalog,
            features=self.features,
            router=self.router,
            stops=self.stops,
            workers=self.worker,
            audit_log=self.audit,
            decisions=self.audit,
            overrides=self.audit,
            telemetry=self.telemetry,
            clock=self.clock,
            breakers=self.breakers,
            pii_key=PII_KEY,
            deadline_margin_ms=50,
            commit_reserve_ms=RESERVE_MS,
        )

    def timed_decide(self, request_id: str, remaining_ms: float | None = 5_000):
        """Decide, returning the result and how long the answer took on the manual clock, in ms."""
        started = self.clock.mono
        result, _ = decide(self, request_id, remaining_ms=remaining_ms)
        return result, (self.clock.mono - started) * 1000.0


def test_the_worker_call_gets_the_budget_less_the_commit_reserve() -> None:
    world = TimedWorld()
    result, _ = world.timed_decide("r-1")
    assert not result.response.fallback
    assert world.timeouts == [pytest.approx((BUDGET_MS - RESERVE_MS) / 1000.0)]
    request = world.worker.requests[-1]
    assert request.deadline_unix_ms == int(world.clock.wall * 1000 + BUDGET_MS - RESERVE_MS)


def test_enrichment_counts_against_the_budget() -> None:
    world = TimedWorld()
    world.enrich_ms = 30.0
    world.timed_decide("r-1")
    assert world.timeouts == [pytest.approx((BUDGET_MS - RESERVE_MS - 30.0) / 1000.0)]


def test_a_slow_worker_gives_a_fallback_within_the_budget() -> None:
    world = TimedWorld()
    world.enrich_ms, world.commit_ms, world.slow = 5.0, 15.0, True
    result, took_ms = world.timed_decide("r-slow")
    assert result.response.fallback and "WorkerTimeoutError" in (result.response.fallback_reason or "")
    assert took_ms <= BUDGET_MS + 0.001
    assert world.audit.actions() == [("worker.inference", "error"), ("decision.create", "fallback")]


def test_the_reserve_follows_nine_recent_commits_in_ten_but_not_the_first_one() -> None:
    world = TimedWorld()
    # The container's first commit also opens the store's connection: it does not size the reserve.
    world.commit_ms = 500.0
    world.timed_decide("r-cold")
    world.commit_ms = 60.0
    world.timed_decide("r-1")
    assert world.timeouts[-1] == pytest.approx((BUDGET_MS - RESERVE_MS) / 1000.0)
    world.commit_ms, world.slow = 10.0, True
    result, took_ms = world.timed_decide("r-2")
    assert world.timeouts[-1] == pytest.approx((BUDGET_MS - 60.0) / 1000.0)
    assert result.response.fallback and took_ms <= BUDGET_MS
    world.slow = False
    for index in range(9):
        world.timed_decide(f"r-fast-{index}")
    # The last one found ten recent commits, one slow: above their 90th percentile, so the floor applies again.
    assert world.timeouts[-1] == pytest.approx((BUDGET_MS - RESERVE_MS) / 1000.0)
    assert COMMIT_SAMPLES >= 10


def test_a_slow_store_keeps_at_most_its_share_of_the_budget() -> None:
    world = TimedWorld()
    world.timed_decide("r-cold")
    world.commit_ms = 2_000.0
    world.timed_decide("r-1")
    world.commit_ms = 0.0
    result, _ = world.timed_decide("r-2")
    assert not result.response.fallback
    assert world.timeouts[-1] == pytest.approx(BUDGET_MS * (1 - COMMIT_RESERVE_MAX_SHARE) / 1000.0)


def test_the_invocations_remaining_time_bounds_the_answer_with_the_reserve_kept() -> None:
    world = TimedWorld()
    world.commit_ms, world.slow = 15.0, True
    result, took_ms = world.timed_decide("r-1", remaining_ms=150.0)
    # 150 ms left, less the 50 ms margin: 100 ms for the answer, 20 of them for the commit.
    assert world.timeouts == [pytest.approx(0.080)]
    assert result.response.fallback and took_ms <= 100.0 + 0.001
