"""Per-version statistics of live traffic for the promotion controller, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from contracts.audit.v1 import AuditEvent
from contracts.model.v1 import VersionStats
from leaim.adapters.sql import SqlAuditLog, SqlVersionStats
from leaim.adapters.sql.stats import SqlShadowOutcomes

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leaim.lifecycle.ports import VersionStatsSource

SINCE = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
USE_CASE = "credit_limit"
MODEL = "credit"


def event(**overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": SINCE + timedelta(minutes=5),
        "source": "worker:leaim-inference",
        "action": "worker.inference",
        "invocation_id": uuid.uuid4().hex,
        "outcome": "success",
        "trace_id": uuid.uuid4().hex,
        "duration_ms": 10.0,
        "use_case": USE_CASE,
        "model_name": MODEL,
        "model_version": "v1",
    }
    values.update(overrides)
    return AuditEvent(**values)


def decision(outcome: str, version: str | None, **overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {"source": "DecisionApiFunction", "action": "decision.create", **overrides}
    return event(outcome=outcome, model_version=version, **values)


def test_implements_the_version_stats_port(engine: Engine) -> None:
    source: VersionStatsSource = SqlVersionStats(engine)
    assert source.version_stats(USE_CASE, MODEL, SINCE) == {}


def test_calls_errors_fallbacks_and_p95_per_version(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    champion_calls = [
        event(duration_ms=float(ms), outcome="error" if ms in {3, 20} else "success") for ms in range(20, 0, -1)
    ]
    shadow_calls = [
        event(model_version="v2", duration_ms=ms, details={"role": "shadow", "caller": "DecisionApiFunction"})
        for ms in (5.0, 50.0, 7.5)
    ]
    counted_fallbacks = [
        decision("fallback", "v1"),
        decision("fallback", "v1", source="DecisionConsumerFunction"),
        decision("fallback", "v1", occurred_at=SINCE),
        # A version whose circuit is open: its decisions fall back without calling the worker.
        decision("fallback", "v3"),
        decision("fallback", "v3"),
    ]
    ignored = [
        event(occurred_at=SINCE - timedelta(microseconds=1), outcome="error", duration_ms=900.0),
        event(use_case="fraud_check", outcome="error"),
        event(model_name="credit-gbt", outcome="error"),
        event(action="worker.training", source="worker:leaim-training", duration_ms=60_000.0),
        event(model_version=None, outcome="error"),
        # An auditor's replay calls the worker on a stored decision: not live traffic.
        event(outcome="error", duration_ms=800.0, details={"role": "replay", "caller": "DecisionReplayFunction"}),
        decision("success", "v1"),
        decision("duplicate", "v1"),
        decision("fallback", None),
        decision("fallback", "v1", occurred_at=SINCE - timedelta(hours=1)),
        decision("fallback", "v1", use_case="fraud_check"),
        decision("fallback", "v1", source="worker:leaim-inference"),
        event(action="ingest.records", source="IngestConsumerFunction", outcome="fallback"),
    ]
    log.append_many([*champion_calls, *shadow_calls, *counted_fallbacks, *ignored])

    stats = SqlVersionStats(engine).version_stats(USE_CASE, MODEL, SINCE)

    assert stats == {
        # Nearest rank: the 19th of 20 sorted durations.
        "v1": VersionStats(
            version="v1",
            requests=20,
            errors=2,
            fallbacks=3,
            error_rate=0.1,
            fallback_rate=0.15,
            latency_p95_ms=19.0,
        ),
        # Shadow calls are the challenger's requests; the 3rd of 3 sorted durations.
        "v2": VersionStats(
            version="v2",
            requests=3,
            errors=0,
            fallbacks=0,
            error_rate=0.0,
            fallback_rate=0.0,
            latency_p95_ms=50.0,
        ),
        "v3": VersionStats(
            version="v3",
            requests=0,
            errors=0,
            fallbacks=2,
            error_rate=0.0,
            fallback_rate=0.0,
            latency_p95_ms=None,
        ),
    }


def test_a_single_call_is_its_own_p95(engine: Engine) -> None:
    SqlAuditLog(engine).append(event(duration_ms=42.125, outcome="error"))
    stats = SqlVersionStats(engine)

    assert stats.version_stats(USE_CASE, MODEL, SINCE) == {
        "v1": VersionStats(
            version="v1",
            requests=1,
            errors=1,
            fallbacks=0,
            error_rate=1.0,
            fallback_rate=0.0,
            latency_p95_ms=42.125,
        )
    }
    assert stats.version_stats(USE_CASE, MODEL, SINCE + timedelta(hours=1)) == {}


def test_the_decisions_a_shadow_policy_version_was_compared_on_with_both_outcomes(engine: Engine) -> None:
    until = SINCE + timedelta(hours=1)

    def decided(outcome: str, active: int | None, shadow: dict[str, Any] | None, **overrides: Any) -> AuditEvent:
        details: dict[str, Any] = {"outcome": outcome, "policy_version": active}
        if shadow is not None:
            details["policy_shadow"] = {"digest": "d" * 64, **shadow}
        return decision("success", "v1", details=details, **overrides)

    SqlAuditLog(engine).append_many(
        [
            decided("approved", 1, {"version": 3, "outcome": "review"}),
            decided("declined", 2, {"version": 3, "outcome": "declined"}),
            decided("approved", None, {"version": 3, "outcome": "approved"}),
            # Not compared on version 3: another shadow, none, out of the window, another use case or action.
            decided("approved", 1, {"version": 4, "outcome": "review"}),
            decided("approved", 1, None),
            decided("approved", 1, {"version": 3, "outcome": "review"}, occurred_at=until),
            decided("approved", 1, {"version": 3, "outcome": "review"}, occurred_at=SINCE - timedelta(seconds=1)),
            decided("approved", 1, {"version": 3, "outcome": "review"}, use_case="fraud_check"),
            decided("approved", 1, {"version": 3, "outcome": "review"}, action="decision.duplicate"),
            # A shadow whose outcome was not recorded (its rules could not be read) is not a comparison.
            decided("approved", 1, {"version": 3}),
        ]
    )

    compared = SqlShadowOutcomes(engine).shadow_outcomes(USE_CASE, 3, SINCE, until)

    assert sorted(compared, key=str) == sorted(
        [(1, "approved", "review"), (2, "declined", "declined"), (None, "approved", "approved")], key=str
    )
