"""The per-key rate limiter on a real DynamoDB table (moto's server), as `template.yaml` declares it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from embedded.emulation.aws import LocalEndpoint
from leaim.adapters.dynamodb_limits import DynamoRateLimiter
from leaim.exceptions import DependencyUnavailableError
from leaim.governance.access.plans import Plan
from tests.support.accepted import client, template_table

if TYPE_CHECKING:
    from collections.abc import Iterator

START = datetime(2026, 12, 2, 23, 59, 0, tzinfo=UTC).timestamp()


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def table(endpoint: LocalEndpoint) -> tuple[str, Any]:
    return template_table(endpoint, "RateLimitsTable")


def test_a_burst_is_admitted_then_the_key_waits_one_interval_per_request(table: tuple[str, Any]) -> None:
    clock = Clock(START)
    limiter = DynamoRateLimiter(*table, clock=clock)
    plan = Plan("test", rate_per_s=2.0, burst=3, daily=None)

    burst = [limiter.admit("key_a", plan) for _ in range(3)]
    refused = limiter.admit("key_a", plan)

    assert all(admission.admitted for admission in burst)
    assert (refused.admitted, refused.limit) == (False, "rate")
    assert refused.retry_after_s == pytest.approx(0.5, abs=1e-3)
    assert limiter.admit("key_b", plan).admitted, "another key has its own burst"
    clock.now += 0.5
    assert limiter.admit("key_a", plan).admitted
    assert not limiter.admit("key_a", plan).admitted
    clock.now += 10.0
    assert [limiter.admit("key_a", plan).admitted for _ in range(4)] == [True, True, True, False], "a rested key"


def test_the_daily_quota_refuses_until_utc_midnight(table: tuple[str, Any]) -> None:
    clock = Clock(START)
    limiter = DynamoRateLimiter(*table, clock=clock)
    plan = Plan("test", rate_per_s=None, burst=0, daily=5)

    admitted = [limiter.admit("key_a", plan).admitted for _ in range(7)]
    refused = limiter.admit("key_a", plan)

    assert admitted == [True] * 5 + [False] * 2
    assert (refused.limit, refused.retry_after_s) == ("daily", pytest.approx(60.0))
    clock.now += 61.0
    assert limiter.admit("key_a", plan).admitted, "a new UTC day"


def test_containers_racing_on_one_key_admit_exactly_its_burst(table: tuple[str, Any]) -> None:
    clock = Clock(START)
    plan = Plan("test", rate_per_s=0.001, burst=10, daily=None)
    limiters = [DynamoRateLimiter(*table, clock=clock) for _ in range(6)]
    results: list[bool] = []
    lock = threading.Lock()

    def send(limiter: DynamoRateLimiter) -> None:
        for _ in range(5):
            admitted = limiter.admit("key_shared", plan).admitted
            with lock:
                results.append(admitted)

    threads = [threading.Thread(target=send, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 30
    assert results.count(True) == 10


def test_an_unreachable_table_is_a_dependency_error_not_an_admission(endpoint: LocalEndpoint) -> None:
    limiter = DynamoRateLimiter("no-such-table", client(endpoint, "dynamodb"))

    with pytest.raises(DependencyUnavailableError, match="rate limit table unavailable"):
        limiter.admit("key_a", Plan("test", rate_per_s=1.0, burst=1, daily=None))
