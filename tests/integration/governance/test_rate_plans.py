"""Rate plans enforced by the governed HTTP entry: a key over its plan is answered 429 with `Retry-After`, audited,
and nothing is decided; keys of other plans and other keys go on being served."""

from __future__ import annotations

import json
import random
import time
from typing import TYPE_CHECKING

import pytest

from embedded.emulation.aws import LocalEndpoint
from leaim.adapters.dynamodb_limits import DynamoRateLimiter
from leaim.governance.access.gate import Invocation
from leaim.governance.access.limits import RateLimits
from leaim.governance.access.plans import PLANS
from leaim.governance.ports import AuditQuery, Principal
from tests.integration.governance.harness import KEYS, USE_CASE, GovernanceBench, transaction
from tests.support.accepted import template_table
from tests.support.fakes import MemoryKeys

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

    from tests.integration.governance.harness import Reply

TRIAL = PLANS["trial"]
PLANNED_KEYS = {
    **KEYS,
    "trial-key": Principal("trial-shop", "decision_client", frozenset({USE_CASE}), key_id="key_trial", plan="trial"),
    "other-trial-key": Principal(
        "trial-cafe", "decision_client", frozenset({USE_CASE}), key_id="key_cafe", plan="trial"
    ),
    "internal-key": Principal("ops-console", "decision_client", key_id="key_ops", plan="internal"),
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bench(engine: Engine, tmp_path: Path, endpoint: LocalEndpoint) -> GovernanceBench:
    # The limiter's clock stands still: the burst is all the test's requests may spend, however long they take.
    frozen = time.time()
    table, client = template_table(endpoint, "RateLimitsTable")
    limits = RateLimits(DynamoRateLimiter(table, client, clock=lambda: frozen))
    built = GovernanceBench(engine, tmp_path, keys=MemoryKeys(PLANNED_KEYS), limits=limits)
    built.publish_champion()
    return built


def decide(bench: GovernanceBench, key: str, request_id: str) -> Reply:
    body = json.dumps({"request_id": request_id, "inputs": transaction(random.Random(request_id))}).encode()
    return bench.call(lambda inv: bench.decision_api.create(USE_CASE, body, inv), key, "DecisionApiFunction")


def test_a_key_over_its_burst_is_answered_429_with_retry_after_audited_and_nothing_is_decided(
    bench: GovernanceBench,
) -> None:
    replies = [decide(bench, "trial-key", f"trial-{index}") for index in range(TRIAL.burst + 3)]

    assert [reply.status for reply in replies] == [200] * TRIAL.burst + [429] * 3
    refused = replies[-1]
    assert refused.body["error"] == "rate_limited"
    assert "key_trial is over 5 requests/s with bursts of 10 (plan trial)" in refused.body["message"]
    assert (refused.event.outcome, refused.event.status_code) == ("rejected", 429)
    assert refused.event.details["limit"] == "rate"
    assert refused.event.details["retry_after_s"] == 1
    assert refused.event.principal == "trial-shop"
    decided = bench.audit_log.count(AuditQuery(principal="trial-shop", action="decision.create", outcome="success"))
    assert decided == TRIAL.burst, "a refused request decides nothing"

    body = json.dumps({"request_id": "trial-direct", "inputs": transaction(random.Random(9))}).encode()
    answer = bench.decision_api.create(USE_CASE, body, Invocation("inv-direct", {"x-api-key": "trial-key"}))
    assert (answer.status, answer.headers["retry-after"]) == (429, "1")

    usage = bench.call(lambda inv: bench.api.usage({}, inv), "auditor-key")
    assert usage.body["throttled"] == [{"use_case": USE_CASE, "principal": "trial-shop", "requests": 4}]

    assert decide(bench, "other-trial-key", "cafe-1").status == 200, "another key has its own plan"
    assert all(decide(bench, "internal-key", f"ops-{index}").status == 200 for index in range(TRIAL.burst + 3))
