"""Audit events and decisions to store, with every field set and any of them overridden."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse, ModelRef, Reason

BASE_TIME = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def make_event(**overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": BASE_TIME,
        "source": "DecisionApiFunction",
        "action": "decision.create",
        "invocation_id": uuid.uuid4().hex,
        "outcome": "success",
        "trace_id": uuid.uuid4().hex,
        "duration_ms": 12.5,
    }
    values.update(overrides)
    return AuditEvent(**values)


def make_decision(**overrides: Any) -> DecisionResponse:
    values: dict[str, Any] = {
        "decision_id": uuid.uuid4().hex,
        "request_id": "req-1",
        "use_case": "credit_limit",
        "outcome": "approved",
        "score": 0.8125,
        "reasons": [
            Reason(kind="feature", code="income", message="high income", feature="income", contribution=0.4),
            Reason(kind="rule", code="R1", message="existing customer"),
        ],
        "model": ModelRef(name="credit", version="3", artifact_digest="sha256:" + "a" * 64),
        "fallback": False,
        "review_required": False,
        "trace_id": uuid.uuid4().hex,
        "decided_at": datetime(2025, 3, 14, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        "latency_ms": 41.0,
    }
    values.update(overrides)
    return DecisionResponse(**values)


MAKER = "checkout-service"


def decision_event(decision: DecisionResponse, **overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {"principal": MAKER, "role": "decision_client"}
    values.update(overrides)
    return make_event(
        decision_id=decision.decision_id,
        request_id=decision.request_id,
        use_case=decision.use_case,
        trace_id=decision.trace_id,
        **values,
    )
