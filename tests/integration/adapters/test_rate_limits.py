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


class CountingClient:
    """A DynamoDB client that counts the calls made through it."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.calls: list[str] = []

    def update_item(self, **request: Any) -> Any:
        self.calls.append("update_item")
        return self.wrapped.update_item(**request)

    def get_item(self, **request: Any) -> Any:
        self.calls.append("get_item")
        return self.wrapped.get_item(**request)


def test_a_throttled_key_is_held_to_the_lowered_rate_until_the_throttle_ends(table: tuple[str, Any]) -> None:
    clock = Clock(START)
    limiter = DynamoRateLimiter(*table, clock=clock)
    plan = Plan("test", rate_per_s=10.0, burst=10, daily=None)
    assert limiter.admit("key_t", plan).admitted

    limiter.throttle("key_t", rate_per_s=0.5, burst=2, until=START + 60.0)
    clock.now += 5.0
    held = [limiter.admit("key_t", plan) for _ in range(3)]

    assert [admission.admitted for admission in held] == [True, True, False]
    assert (held[2].limit, held[2].retry_after_s) == ("abuse", pytest.approx(2.0, abs=1e-3))
    assert limiter.admit("key_other", plan).admitted, "another key keeps its plan"
    clock.now += 2.0
    assert limiter.admit("key_t", plan).admitted and not limiter.admit("key_t", plan).admitted
    clock.now = START + 61.0
    assert [limiter.admit("key_t", plan).admitted for _ in range(11)] == [True] * 10 + [False], "the plan again"


def test_a_renewed_throttle_extends_it_and_an_unthrottled_key_pays_one_update(table: tuple[str, Any]) -> None:
    _, dynamodb = table
    counting = CountingClient(dynamodb)
    clock = Clock(START)
    limiter = DynamoRateLimiter(table[0], counting, clock=clock)
    plan = Plan("test", rate_per_s=10.0, burst=10, daily=None)

    assert limiter.admit("key_plain", plan).admitted
    assert counting.calls == ["update_item"]
    limiter.throttle("key_r", rate_per_s=1.0, burst=1, until=START + 10.0)
    limiter.throttle("key_r", rate_per_s=1.0, burst=1, until=START + 100.0)
    clock.now = START + 50.0

    assert limiter.admit("key_r", plan).admitted
    refused = limiter.admit("key_r", plan)
    assert (refused.admitted, refused.limit) == (False, "abuse")
    item = dynamodb.get_item(TableName=table[0], Key={"pk": {"S": "rate#key_r"}})["Item"]
    assert float(item["throttle_until"]["N"]) == START + 100.0
    assert int(item["expires_at"]["N"]) >= START + 100.0 + 86_400, "the item outlives its throttle"
