"""The monitor: drift of live traffic against each live version's training baseline, bias, alerts, retraining.

Run on a schedule. Per use case it compares the decisions of the manifest's window with the baseline each
live version (champion and challenger) was trained on, measures bias per protected attribute and version,
keeps both reports, opens and closes alerts, and asks for retraining when the champion starts drifting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from contracts.governance.v1 import (
    Alert,
    BiasIndicators,
    BiasReport,
    DriftReport,
    FeatureDrift,
    GroupIndicators,
)
from contracts.model.v1 import RetrainingRequest
from leaim.exceptions import LeaimError
from leaim.governance.statistics.drift import DriftThresholds, categorical_features, measure_drift
from leaim.governance.statistics.fairness import BiasThresholds, bias_alerts, bias_indicators

if TYPE_CHECKING:
    from contracts.manifest.v1 import UseCaseManifest
    from contracts.model.v1 import TrainingJob
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.audit.events import ScheduleGate
    from leaim.governance.oversight.ports import OversightStore, StoredDecision
    from leaim.governance.statistics.drift import DriftResult
    from leaim.governance.statistics.drift import FeatureDrift as MeasuredDrift
    from leaim.governance.statistics.fairness import BiasAlert
    from leaim.lifecycle.ports import ModelRegistry
    from leaim.serving.ports import ActiveModel, ModelRouter

MONITOR_PRINCIPAL = "monitor:drift"
# The latest decisions of a window that a run reads: enough for every test, and within the function's memory.
MAX_WINDOW_ROWS = 200_000


class Retrainer(Protocol):
    """What the monitor needs of the lifecycle: `TrainingJobs.retrain`."""

    def retrain(self, use_case: str, request: RetrainingRequest, *, principal: str) -> TrainingJob:
        """Cut a fresh snapshot and queue a training job on it."""
        ...


@dataclass
class MonitorRun:
    """What one run measured and did."""

    drift: list[DriftReport] = field(default_factory=list)
    bias: list[BiasReport] = field(default_factory=list)
    opened: list[Alert] = field(default_factory=list)
    closed: int = 0
    retraining: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The run in brief, for its audit event."""
        return {
            "drift": {f"{r.use_case}/{r.model_version}": r.status for r in self.drift},
            "drifted_features": {f"{r.use_case}/{r.model_version}": r.drifted_features for r in self.drift},
            "bias_reports": [r.report_id for r in self.bias],
            "alerts_opened": [f"{a.kind}:{a.use_case}/{a.model_version}:{a.subject}" for a in self.opened],
            "alerts_closed": self.closed,
            "retraining_jobs": self.retraining,
            "problems": self.problems,
        }


class Monitor:
    """Drift and bias monitor over every use case with a live version."""

    def __init__(
        self,
        *,
        catalog: ManifestCatalog,
        router: ModelRouter,
        registry: ModelRegistry,
        store: OversightStore,
        retrainer: Retrainer,
        clock: Clock,
    ) -> None:
        self._catalog = catalog
        self._router = router
        self._registry = registry
        self._store = store
        self._retrainer = retrainer
        self._clock = clock

    def run(self, use_cases: list[str] | None = None) -> MonitorRun:
        """Monitor each use case (all by default); a use case that fails is named in `problems`, the rest go on."""
        run = MonitorRun()
        for use_case in use_cases if use_cases is not None else self._catalog.names():
            try:
                self._monitor(self._catalog.get(use_case), run)
            except (LeaimError, ValueError, KeyError) as error:
                # A use case that cannot be judged (a store outage, decisions whose features no longer match
                # the live version's) is named; the others are still monitored.
                run.problems.append(f"{use_case}: {type(error).__name__}: {error}")
        return run

    def _monitor(self, manifest: UseCaseManifest, run: MonitorRun) -> None:
        plan = self._router.plan(manifest.name)
        if plan is None:
            return
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        since = now - timedelta(hours=manifest.monitoring.window_hours)
        window = self._store.window(manifest.name, since, now, limit=MAX_WINDOW_ROWS)
        live: list[tuple[ActiveModel, Literal["champion", "challenger"]]] = [(plan.champion, "champion")]
        if plan.challenger is not None:
            live.append((plan.challenger, "challenger"))
        still_open: list[tuple[str, str]] = []
        for model, role in live:
            report = self._drift(manifest, model, role, window, since, now)
            if report.status == "insufficient":
                # Too few decisions to judge: an open drift alert stays open, rather than close and reopen (and
                # retrain again) when traffic returns.
                still_open.append((model.version, "drift"))
            if report.status == "drift":
                still_open.append((model.version, "drift"))
                alert = self._alert(manifest.name, "drift", model.version, "drift", _drift_message(report), report, now)
                if self._store.open_alert(alert):
                    run.opened.append(alert)
                    if role == "champion" and manifest.monitoring.retrain_on_drift:
                        report = self._retrain(manifest, report, run)
                        if report.retraining_job_id is None:
                            # Closed again, so that the next run opens it anew and asks for retraining again.
                            still_open.remove((model.version, "drift"))
            self._store.save_report("drift", report)
            run.drift.append(report)
        run.closed += self._store.close_alerts(manifest.name, "drift", still_open=still_open, at=now)
        bias, crossed = self._bias(manifest, window, since, now)
        bias_open: list[tuple[str, str]] = []
        for version, crossing in crossed:
            subject = f"{crossing.attribute}:{crossing.indicator}"
            bias_open.append((version, subject))
            alert = self._alert(manifest.name, "bias", version, subject, crossing.message, bias, now)
            if self._store.open_alert(alert):
                run.opened.append(alert)
        self._store.save_report("bias", bias)
        run.bias.append(bias)
        run.closed += self._store.close_alerts(manifest.name, "bias", still_open=bias_open, at=now)

    def _drift(
        self,
        manifest: UseCaseManifest,
        model: ActiveModel,
        role: Literal["champion", "challenger"],
        window: list[StoredDecision],
        since: datetime,
        now: datetime,
    ) -> DriftReport:
        signed = self._registry.get(model.name, model.version)
        if signed is None:
            raise LeaimError(f"live version {model.name}@{model.version} is not in the registry")
        names = list(model.feature_names)
        scored = [(stored, stored.features) for stored in window if stored.features is not None]
        matrix = np.array([[features[name] for name in names] for _, features in scored], dtype=np.float64)
        scores = np.array(
            [
                stored.response.score
                for stored, _ in scored
                if stored.response.model is not None and stored.response.model.version == model.version
            ],
            dtype=np.float64,
        )
        settings = manifest.monitoring
        result = measure_drift(
            signed.manifest.baseline,
            names,
            matrix.reshape(len(scored), len(names)),
            scores if scores.size else None,
            categorical=categorical_features(manifest),
            thresholds=DriftThresholds(
                min_rows=settings.min_rows, max_psi=settings.max_psi, max_p_value=settings.max_p_value
            ),
        )
        return _drift_report(manifest, model, role, result, since, now)

    def _retrain(self, manifest: UseCaseManifest, report: DriftReport, run: MonitorRun) -> DriftReport:
        # Trained on the old distribution too, the successor would drift against its own baseline.
        window = manifest.monitoring.retrain_window_days
        request = RetrainingRequest(
            reason=f"drift of {model_label(report)}: {', '.join(report.drifted_features)}"[:500],
            trigger="drift",
            deploy="shadow",
            since=None if window is None else report.window_end - timedelta(days=window),
        )
        try:
            job = self._retrainer.retrain(manifest.name, request, principal=MONITOR_PRINCIPAL)
        except LeaimError as error:
            run.problems.append(f"{manifest.name}: retraining was not started: {type(error).__name__}: {error}")
            return report
        run.retraining.append(job.job_id)
        return report.model_copy(update={"retraining_job_id": job.job_id})

    def _bias(
        self, manifest: UseCaseManifest, window: list[StoredDecision], since: datetime, now: datetime
    ) -> tuple[BiasReport, list[tuple[str, BiasAlert]]]:
        """Indicators per protected attribute and version, and the thresholds they cross, by version."""
        thresholds = BiasThresholds(
            min_disparate_impact=manifest.gates.min_disparate_impact,
            max_equal_opportunity_difference=manifest.monitoring.max_equal_opportunity_difference,
        )
        favorable_outcome = manifest.decision.negative_outcome
        by_version: dict[str, list[StoredDecision]] = {}
        for stored in window:
            if stored.response.model is not None:
                by_version.setdefault(stored.response.model.version, []).append(stored)
        indicators = []
        crossed: list[tuple[str, BiasAlert]] = []
        for attribute in (item.name for item in manifest.inputs if item.protected):
            for version, decisions in sorted(by_version.items()):
                result = bias_indicators(
                    [_group(stored.inputs.get(attribute)) for stored in decisions],
                    [stored.final_outcome == favorable_outcome for stored in decisions],
                    [None if stored.label is None else not stored.label for stored in decisions],
                    min_group_rows=manifest.gates.min_group_rows,
                )
                alerts = bias_alerts(attribute, result, thresholds)
                crossed += [(version, alert) for alert in alerts]
                indicators.append(
                    BiasIndicators(
                        attribute=attribute,
                        model_version=version,
                        groups=[
                            GroupIndicators(
                                group=group.group,
                                rows=group.rows,
                                favorable_rate=group.favorable_rate,
                                labelled_favorable=group.truth_favorable_rows,
                                true_favorable_rate=group.true_favorable_rate,
                            )
                            for group in result.groups
                        ],
                        disparate_impact=result.disparate_impact,
                        equal_opportunity_difference=result.equal_opportunity_difference,
                        alerts=[alert.message for alert in alerts],
                    )
                )
        report = BiasReport(
            report_id=uuid.uuid4().hex,
            use_case=manifest.name,
            window_start=since,
            window_end=now,
            computed_at=now,
            min_disparate_impact=thresholds.min_disparate_impact,
            max_equal_opportunity_difference=thresholds.max_equal_opportunity_difference,
            min_group_rows=manifest.gates.min_group_rows,
            indicators=indicators,
        )
        return report, crossed

    @staticmethod
    def _alert(
        use_case: str,
        kind: Literal["drift", "bias"],
        version: str,
        subject: str,
        message: str,
        report: DriftReport | BiasReport,
        now: datetime,
    ) -> Alert:
        return Alert(
            alert_id=uuid.uuid4().hex,
            use_case=use_case,
            kind=kind,
            model_version=version,
            subject=subject,
            message=message,
            opened_at=now,
            report_id=report.report_id,
        )


def model_label(report: DriftReport) -> str:
    """`name@version` of the report's model."""
    return f"{report.model_name}@{report.model_version}"


def _group(value: object) -> str | None:
    return None if value is None else str(value)


def _drift_message(report: DriftReport) -> str:
    drifted = list(report.drifted_features)
    if report.score is not None and report.score.drifted:
        drifted.append("score")
    return f"{model_label(report)} drifted over {report.rows} decisions: {', '.join(drifted)}"


def _feature(measured: MeasuredDrift) -> FeatureDrift:
    return FeatureDrift(
        feature=measured.feature,
        kind=measured.kind,
        test=measured.test,
        psi=measured.psi,
        statistic=measured.statistic,
        p_value=measured.p_value,
        live_rows=measured.live_rows,
        drifted=measured.drifted,
    )


def _drift_report(
    manifest: UseCaseManifest,
    model: ActiveModel,
    role: Literal["champion", "challenger"],
    result: DriftResult,
    since: datetime,
    now: datetime,
) -> DriftReport:
    settings = manifest.monitoring
    return DriftReport(
        report_id=uuid.uuid4().hex,
        use_case=manifest.name,
        model_name=model.name,
        model_version=model.version,
        role=role,
        window_start=since,
        window_end=now,
        computed_at=now,
        status=result.status,
        rows=result.rows,
        min_rows=settings.min_rows,
        max_psi=settings.max_psi,
        max_p_value=settings.max_p_value,
        features=[_feature(measured) for measured in result.features],
        score=None if result.score is None else _feature(result.score),
        drifted_features=list(result.drifted_features),
    )


def run_monitor(
    monitor: Monitor, gate: ScheduleGate, invocation_id: str, use_cases: list[str] | None = None
) -> MonitorRun:
    """One monitor run over `use_cases` (every one by default), recorded in one audit event: an error event naming
    any use case that failed."""
    with gate.run("monitor.run", "monitor.run", invocation_id, principal=MONITOR_PRINCIPAL, role="monitor") as audit:
        with audit.failures_audited():
            run = monitor.run(use_cases)
        if run.problems:
            audit.store("error", error="; ".join(run.problems)[:2000], details=run.summary())
        else:
            audit.store("success", details=run.summary())
        return run
