"""One inference worker call as the orchestration code makes it and audits it, for a decision (its champion, a
shadow challenger) and for an auditor's replay of a stored decision alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from contracts.inference.v1 import InferenceRequest
from leaim.exceptions import WorkerError
from leaim.governance.audit.events import new_event_id

if TYPE_CHECKING:
    from contracts.audit.v1 import AuditEvent
    from contracts.inference.v1 import InferenceResult
    from leaim.domain.deadline import Deadline
    from leaim.governance.audit.events import InvocationAudit

INFERENCE_SOURCE = "worker:leaim-inference"
# The feature contributions a worker returns unless asked for more: the reasons a decision shows.
DEFAULT_TOP_REASONS = 3


class ScoredModel(Protocol):
    """The model version a call scores on, and the features it takes, in order."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def artifact_digest(self) -> str: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...


def inference_request(
    model: ScoredModel,
    row: list[float],
    decision_id: str,
    carrier: dict[str, str],
    deadline: Deadline,
    *,
    top_reasons: int = DEFAULT_TOP_REASONS,
) -> InferenceRequest:
    """The request that scores `row` on `model`, carrying the trace and the decision's deadline, for the
    `top_reasons` largest feature contributions."""
    return InferenceRequest(
        request_id=decision_id,
        model_name=model.name,
        model_version=model.version,
        artifact_digest=model.artifact_digest,
        feature_names=list(model.feature_names),
        rows=[row],
        trace_context=carrier,
        deadline_unix_ms=deadline.expires_unix_ms,
        top_reasons=top_reasons,
    )


def check_answer(request: InferenceRequest, result: InferenceResult) -> None:
    """A worker answer for another model, or with the wrong number of rows, is a worker failure (WorkerError)."""
    if (result.model_name, result.model_version, result.artifact_digest) != (
        request.model_name,
        request.model_version,
        request.artifact_digest,
    ):
        raise WorkerError(
            f"worker answered for {result.model_name}@{result.model_version} ({result.artifact_digest[:12]}), "
            f"asked {request.model_name}@{request.model_version} ({request.artifact_digest[:12]})"
        )
    if len(result.results) != len(request.rows):
        raise WorkerError(f"worker answered {len(result.results)} scores for {len(request.rows)} rows")


def worker_call_event(
    audit: InvocationAudit,
    model: ScoredModel,
    decision_id: str,
    duration_ms: float,
    *,
    role: str,
    trace_id: str | None = None,
    worker: str | None = None,
    batch_size: int | None = None,
    score: float | None = None,
    error: str | None = None,
) -> AuditEvent:
    """The `worker.inference` event of one call, written by the code that made it: `details.role` says what the call
    was for (`champion`, `canary`, `shadow`, `replay`), and `details.caller` which function made it."""
    base = audit.event("error" if error else "success", error=error)
    return base.model_copy(
        update={
            "event_id": new_event_id(),
            "source": INFERENCE_SOURCE,
            "action": "worker.inference",
            "trace_id": trace_id or base.trace_id,
            "decision_id": decision_id,
            "worker": worker or INFERENCE_SOURCE,
            "model_name": model.name,
            "model_version": model.version,
            "artifact_digest": model.artifact_digest,
            "batch_size": batch_size,
            "duration_ms": round(duration_ms, 3),
            "details": {
                "caller_invocation": base.invocation_id,
                "caller": base.source,
                "role": role,
                **({} if score is None else {"score": score}),
            },
        }
    )
