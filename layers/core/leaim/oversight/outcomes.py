"""Outcomes: the ground truth of decisions, joined to them, and each model version's quality over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from contracts.governance.v1 import QualityPoint, QualityReport
from leaim.governance.quality import quality_over_time

if TYPE_CHECKING:
    from contracts.governance.v1 import OutcomeReport, RecordedOutcome
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.oversight.ports import OversightStore


class OutcomeService:
    """Records ground truth once per decision and measures quality per model version from it."""

    def __init__(self, *, store: OversightStore, catalog: ManifestCatalog, clock: Clock) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock

    def record(self, decision_id: str, report: OutcomeReport, *, reported_by: str) -> tuple[RecordedOutcome, bool]:
        """Store the truth of `decision_id`; returns it and whether it is new.

        NotFoundError for an unknown decision; OutcomeConflictError when another truth is already stored.
        """
        observed = report.observed_at
        if observed is not None:
            # A time without an offset is taken as UTC, so that the same report sent again compares equal.
            aware = observed.replace(tzinfo=UTC) if observed.tzinfo is None else observed.astimezone(UTC)
            report = report.model_copy(update={"observed_at": aware})
        return self._store.record_outcome(
            decision_id, report, reported_by=reported_by, recorded_at=datetime.fromtimestamp(self._clock.now(), UTC)
        )

    def withdraw(self, recorded: RecordedOutcome) -> None:
        """Remove an outcome whose audit event could not be stored: no truth counts unaudited."""
        self._store.withdraw_outcome(recorded.decision_id, recorded.recorded_at)

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
