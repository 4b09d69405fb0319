"""Audit event, version 1: one per invocation of every function and every GPU worker call."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from contracts._base import Contract, Instant

Outcome = Literal["success", "rejected", "fallback", "error", "duplicate"]


class AuditEvent(Contract):
    """What happened, to what, on whose behalf, under which trace, with which model."""

    schema_version: Literal["audit.v1"] = "audit.v1"
    event_id: str
    occurred_at: Instant
    source: str = Field(description="Function or worker that was invoked, e.g. DecisionApiFunction.")
    action: str = Field(description="What was asked, e.g. decision.create, worker.inference.")
    invocation_id: str = Field(description="Lambda request id, with the record id for batch sources.")
    outcome: Outcome
    trace_id: str
    duration_ms: float
    status_code: int | None = None
    principal: str | None = None
    role: str | None = None
    use_case: str | None = None
    request_id: str | None = None
    decision_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    artifact_digest: str | None = None
    worker: str | None = None
    batch_size: int | None = None
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
