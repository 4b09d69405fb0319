"""The lifecycle's non-HTTP entry points: the training queue consumer and the scheduled promotion run."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from contracts.model.v1 import RetrainingRequest
from leaim.exceptions import LeaimError, UnreadableJobMessageError
from leaim.governance.audit.events import InvocationAudit
from leaim.lifecycle.promotion import CONTROLLER

if TYPE_CHECKING:
    from contracts.audit.v1 import Outcome
    from contracts.model.v1 import PromotionDecision, TrainingJob
    from leaim.domain.clock import Clock
    from leaim.governance.ports import AuditLog, Telemetry
    from leaim.lifecycle.promotion import PromotionController
    from leaim.lifecycle.training import TrainingJobs

QUEUE_PRINCIPAL = "queue:training"
SCHEDULE_PRINCIPAL = "schedule:retraining"


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


def run_controller(
    controller: PromotionController,
    *,
    audit_log: AuditLog,
    telemetry: Telemetry,
    clock: Clock,
    invocation_id: str,
    source: str,
) -> list[PromotionDecision]:
    """One scheduled promotion run: every use case judged, every change recorded in the run's audit event."""
    with telemetry.span("promotion.run"):
        audit = InvocationAudit(
            audit_log,
            clock,
            source=source,
            action="model.promotion.evaluate",
            invocation_id=invocation_id,
            trace_id=telemetry.trace_id(),
        )
        audit.note(principal=CONTROLLER, role="controller")
        with audit.failures_audited():
            decisions = controller.run()
        changes = [decision for decision in decisions if decision.action in ("promote", "advance", "rollback")]
        audit.store(
            "success",
            details={
                "decisions": [decision.model_dump(mode="json") for decision in decisions],
                "changes": [f"{d.use_case}: {d.action} -> revision {d.revision}" for d in changes],
            },
        )
        return decisions


def run_scheduled_retraining(
    jobs: TrainingJobs,
    *,
    audit_log: AuditLog,
    telemetry: Telemetry,
    clock: Clock,
    invocation_id: str,
    source: str,
) -> list[TrainingJob]:
    """One scheduled run: a retraining request for every use case whose manifest asks for it.

    A use case that cannot be retrained now (no stored records, a snapshot conflict) is reported in the
    run's audit event and the others go on; the run's one event lists the jobs it queued.
    """
    with telemetry.span("retraining.schedule"):
        audit = InvocationAudit(
            audit_log,
            clock,
            source=source,
            action="model.retraining.schedule",
            invocation_id=invocation_id,
            trace_id=telemetry.trace_id(),
        )
        audit.note(principal=SCHEDULE_PRINCIPAL, role="ml_engineer")
        queued: list[TrainingJob] = []
        skipped: dict[str, str] = {}
        request = RetrainingRequest(reason="scheduled retraining", trigger="schedule", deploy="shadow")
        queued_ids: list[str] = []
        # The list is read when a failure is stored, so the event names the jobs queued before it.
        with audit.failures_audited({"queued": queued_ids}):
            for use_case in jobs.scheduled_use_cases():
                try:
                    queued.append(jobs.retrain(use_case, request, principal=SCHEDULE_PRINCIPAL))
                    queued_ids.append(queued[-1].job_id)
                except LeaimError as error:
                    skipped[use_case] = f"{type(error).__name__}: {error}"
        details = {
            "queued": {
                job.use_case: {"job_id": job.job_id, "version": job.version, "snapshot_id": job.snapshot_id}
                for job in queued
            },
            "skipped": skipped,
        }
        audit.store("error" if skipped else "success", error="; ".join(skipped.values()) or None, details=details)
        return queued


def _job_id(body: str) -> str:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise UnreadableJobMessageError(f"body is not valid JSON: {error}") from error
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if not isinstance(job_id, str) or not job_id:
        raise UnreadableJobMessageError("body must be a JSON object with a job_id string")
    return job_id
