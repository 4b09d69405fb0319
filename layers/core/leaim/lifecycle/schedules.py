"""The lifecycle's scheduled runs: the promotion controller, and retraining for the manifests that ask for it.

Each run stores one audit event through its schedule gate: what it decided or queued, or why it failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.model.v1 import RetrainingRequest
from leaim.exceptions import LeaimError
from leaim.lifecycle.promotion import CONTROLLER

if TYPE_CHECKING:
    from contracts.model.v1 import PromotionDecision, TrainingJob
    from leaim.governance.audit.events import ScheduleGate
    from leaim.lifecycle.promotion import PromotionController
    from leaim.lifecycle.training import TrainingJobs

SCHEDULE_PRINCIPAL = "schedule:retraining"


def run_controller(controller: PromotionController, gate: ScheduleGate, invocation_id: str) -> list[PromotionDecision]:
    """One scheduled promotion run: every use case judged, every change recorded in the run's audit event."""
    with gate.run(
        "promotion.run", "model.promotion.evaluate", invocation_id, principal=CONTROLLER, role="controller"
    ) as audit:
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


def run_scheduled_retraining(jobs: TrainingJobs, gate: ScheduleGate, invocation_id: str) -> list[TrainingJob]:
    """One scheduled run: a retraining request for every use case whose manifest asks for it.

    A use case that cannot be retrained now (no stored records, a snapshot conflict) is reported in the
    run's audit event and the others go on; the run's one event lists the jobs it queued.
    """
    with gate.run(
        "retraining.schedule",
        "model.retraining.schedule",
        invocation_id,
        principal=SCHEDULE_PRINCIPAL,
        role="ml_engineer",
    ) as audit:
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
