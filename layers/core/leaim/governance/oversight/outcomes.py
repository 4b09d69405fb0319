"""Outcomes: the ground truth of decisions, joined to them, and each model version's quality over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from contracts.governance.v1 import QualityPoint, QualityReport, RecordedOutcome
from leaim.exceptions import OutcomeConflictError
from leaim.governance.access.policy import Permission
from leaim.governance.oversight.reviews import reachable
from leaim.governance.statistics.quality import quality_over_time

if TYPE_CHECKING:
    from contracts.governance.v1 import OutcomeReport
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.oversight.ports import OversightStore
    from leaim.governance.ports import Principal


class OutcomeService:
    """Records ground truth once per decision and measures quality per model version from it."""

    def __init__(self, *, store: OversightStore, catalog: ManifestCatalog, clock: Clock) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock

    def prepare(
        self, decision_id: str, report: OutcomeReport, *, reported_by: Principal
    ) -> tuple[RecordedOutcome, bool]:
        """The outcome to record for `decision_id`, joined to the decision, and whether it is new.

        The same truth sent again gives the stored outcome and False (a retry). NotFoundError for an unknown
        decision, or one the principal may not reach; OutcomeConflictError when another truth is stored. A new
        outcome is stored by the audit log, in one transaction with the event of the invocation that records it.
        """
        observed = report.observed_at
        if observed is not None:
            # A time without an offset is taken as UTC, so that the same report sent again compares equal.
            observed = observed.replace(tzinfo=UTC) if observed.tzinfo is None else observed.astimezone(UTC)
        stored = reachable(self._store, decision_id, reported_by, Permission.RECORD_OUTCOME)
        existing = self._store.outcome_of(decision_id)
        if existing is not None:
            same = (existing.label, existing.source) == (report.label, report.source) and (
                observed is None or existing.observed_at == observed
            )
            if not same:
                raise OutcomeConflictError(
                    f"decision {decision_id!r} already has outcome label={existing.label} "
                    f"(source {existing.source!r}, observed {existing.observed_at.isoformat()}): outcomes are "
                    "recorded once"
                )
            return existing, False
        recorded_at = datetime.fromtimestamp(self._clock.now(), UTC)
        response = stored.response
        recorded = RecordedOutcome(
            decision_id=decision_id,
            use_case=response.use_case,
            label=report.label,
            observed_at=observed or recorded_at,
            source=report.source,
            reported_by=reported_by.name,
            recorded_at=recorded_at,
            model=response.model,
            score=response.score,
            outcome=stored.final_outcome,
        )
        return recorded, True

    def quality(self, use_case: str, *, since: datetime, until: datetime, bucket: timedelta) -> QualityReport:
        """AUC, precision and recall per model version and time bucket, from scored decisions with outcomes.

        Fallback and rule decisions carry no model score and are left out; a bucket where one class is
        absent has no AUC.
        """
        manifest = self._catalog.get(use_case)
        threshold = manifest.decision.threshold
        rows = [
            (stored.response.decided_at, stored.response.model.version, stored.response.score, stored.label)
            for stored in self._store.window(use_case, since, until)
            if stored.label is not None and stored.response.score is not None and stored.response.model is not None
        ]
        points = quality_over_time(rows, bucket=bucket, threshold=threshold)
        return QualityReport(
            use_case=use_case,
            threshold=threshold,
            bucket_minutes=int(bucket.total_seconds() // 60),
            points=[
                QualityPoint(
                    model_version=point.version,
                    start=point.start,
                    end=point.end,
                    rows=point.quality.rows,
                    positives=point.quality.positives,
                    auc=point.quality.auc,
                    precision=point.quality.precision,
                    recall=point.quality.recall,
                )
                for point in points
            ],
        )
