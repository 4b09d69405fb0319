"""The training queue consumer: one message, one training job run on the training worker, one audit event."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from leaim.exceptions import UnreadableJobMessageError
from leaim.governance.audit.events import InvocationAudit

if TYPE_CHECKING:
    from contracts.audit.v1 import Outcome
    from contracts.model.v1 import TrainingJob
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog, Telemetry
    from leaim.lifecycle.training import TrainingJobs

QUEUE_PRINCIPAL = "queue:training"


class TrainingConsumer:
    """Runs the job each training queue message names; one audit event per delivery."""

    def __init__(
        self, *, jobs: TrainingJobs, audit_log: AuditLog, telemetry: Telemetry, clock: Clock, source: str
    ) -> None:
        self._jobs = jobs
        self._audit_log = audit_log
        self._telemetry = telemetry
        self._clock = clock
        self._source = source

    def handle(
        self, body: str, *, message_id: str, receive_count: int, invocation_id: str, remaining_ms: float | None
    ) -> TrainingJob:
        """Run the job. A job that fails ends as `failed` with its reason and is not retried; an
        unreadable message or a store that does not answer raises, so SQS delivers it again."""
        with self._telemetry.span("sqs.training_job", {"message_id": message_id, "receive_count": receive_count}):
            audit = InvocationAudit(
                self._audit_log,
                self._clock,
                source=self._source,
                action="model.training_job.run",
                invocation_id=f"{invocation_id}:{message_id}:{receive_count}",
                trace_id=self._telemetry.trace_id(),
            )
            audit.note(principal=QUEUE_PRINCIPAL, role="ml_engineer")
            attempt = {"message_id": message_id, "receive_count": receive_count}
            with audit.failures_audited(attempt):
                try:
                    job_id = _job_id(body)
                except UnreadableJobMessageError as error:
                    audit.store("rejected", error=str(error), details=attempt)
                    raise
                job = self._jobs.run(job_id, remaining_ms=remaining_ms, principal=QUEUE_PRINCIPAL)
            audit.note(use_case=job.use_case, model_name=job.model_name, model_version=job.version)
            outcome: Outcome = "error" if job.state == "failed" else "success"
            if job.state in ("queued", "running"):
                # Another delivery holds the job: this one ran nothing.
                outcome = "duplicate"
            details = {
                **attempt,
                "job_id": job.job_id,
                "state": job.state,
                "requested_by": job.requested_by,
                "trigger": job.trigger,
                "version": job.version,
                "message": job.message,
                "reasons": job.reasons,
            }
            audit.store(outcome, error=job.message if job.state == "failed" else None, details=details)
            return job


def _job_id(body: str) -> str:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise UnreadableJobMessageError(f"body is not valid JSON: {error}") from error
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if not isinstance(job_id, str) or not job_id:
        raise UnreadableJobMessageError("body must be a JSON object with a job_id string")
    return job_id
