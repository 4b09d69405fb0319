"""Audit events and decisions like those the decision path stores, generated for the audit benchmarks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse, ModelRef, Reason

BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def sample_event(index: int, *, validated: bool = True) -> AuditEvent:
    """An event like those the decision path stores: decisions, worker calls and reads in turn."""
    kind = index % 3
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": BASE_TIME + timedelta(milliseconds=index),
        "source": "DecisionApiFunction" if kind != 1 else "InferenceWorker",
        "action": ("decision.create", "worker.inference", "decision.read")[kind],
        "invocation_id": uuid.uuid4().hex,
        "outcome": "success",
        "trace_id": uuid.uuid4().hex,
        "duration_ms": 3.0 + (index % 97) / 7,
        "status_code": 200 if kind != 1 else None,
        "principal": "svc-payments",
        "role": "decision_client",
        "use_case": "card_fraud",
        "request_id": f"r-{index}",
        # Events of decisions carry their ids; these stand for the others, as only stored decisions have ids.
        "decision_id": None,
        "model_name": "card-fraud",
        "model_version": "v3",
        "artifact_digest": "ab" * 32,
        "worker": "inference" if kind == 1 else None,
        "batch_size": 8 if kind == 1 else None,
        "details": {"outcome": "approved", "score": round(0.001 * (index % 1000), 3), "latency_ms": 11.5}
        if kind == 0
        else {},
    }
    if validated:
        return AuditEvent(**fields)
    return AuditEvent.model_construct(**fields)


def sample_decision(index: int) -> DecisionResponse:
    """A scored decision of the reference use case."""
    return DecisionResponse(
        decision_id=uuid.uuid4().hex,
        request_id=f"bench-{index}",
        use_case="card_fraud",
        outcome="approved",
        score=0.125,
        reasons=[Reason(kind="feature", code="amount", message="small amount", feature="amount", contribution=0.1)],
        model=ModelRef(name="card-fraud", version="v3", artifact_digest="ab" * 32),
        fallback=False,
        review_required=False,
        trace_id=uuid.uuid4().hex,
        decided_at=BASE_TIME,
        latency_ms=12.0,
    )
