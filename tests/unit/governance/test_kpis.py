"""The process KPIs of a use case, computed from its traffic history, training jobs, alerts and decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.governance.v1 import Alert
from contracts.model.v1 import TrainingJob
from leaim.governance.kpis import process_kpis
from leaim.governance.oversight.ports import TrafficChangeKind, TrafficChangeRecord, UsageFact

USE_CASE = "card_fraud"
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=28)


def at(days: float) -> datetime:
    return SINCE + timedelta(days=days)


def change(revision: int, kind: TrafficChangeKind, version: str | None, day: float) -> TrafficChangeRecord:
    return TrafficChangeRecord(
        use_case=USE_CASE,
        revision=revision,
        change=kind,
        model_name="card-fraud",
        version=version,
        champion=version or "v1",
        challenger=None,
        at=at(day),
        by="ops",
    )


def job(version: str, day: float, *, trigger: str = "person", state: str = "succeeded") -> TrainingJob:
    return TrainingJob.model_validate(
        {
            "job_id": f"job-{version}",
            "model_name": "card-fraud",
            "use_case": USE_CASE,
            "version": version,
            "snapshot_id": "snap-1",
            "family": "logistic_regression",
            "params": {},
            "seed": 7,
            "deploy": "shadow",
            "trigger": trigger,
            "requested_by": "ops",
            "state": state,
            "stage": "done",
            "progress": 1.0,
            "created_at": at(day),
            "updated_at": at(day),
        }
    )


def alert(kind: str, opened: float, closed: float | None) -> Alert:
    return Alert(
        alert_id=f"{kind}-{opened}",
        use_case=USE_CASE,
        kind=kind,  # type: ignore[arg-type]
        model_version="v1",
        subject="amount",
        message="crossed",
        opened_at=at(opened),
        closed_at=None if closed is None else at(closed),
        report_id="r-1",
    )


def fact(*, review: bool = False, overridden: bool = False) -> UsageFact:
    return UsageFact(
        use_case=USE_CASE,
        model_version="v1",
        principal="checkout",
        duration_ms=3.0,
        fallback=False,
        review_required=review,
        overridden=overridden,
    )


def kpis(**sources: Any) -> Any:
    values: dict[str, Any] = {"changes": [], "trained": {}, "jobs": [], "alerts": [], "usage": []}
    return process_kpis(USE_CASE, SINCE, UNTIL, **{**values, **sources})


def test_promotions_and_rollbacks_give_the_deployment_frequency_and_change_failure_rate() -> None:
    changes = [
        change(1, "promote", "v1", 1),
        change(2, "challenge", "v2", 3),
        change(3, "clear", None, 4),
        change(4, "challenge", "v3", 8),
        change(5, "promote", "v3", 10),
        change(6, "restore", "v1", 11),
    ]

    result = kpis(changes=changes)

    assert (result.deployments, result.promotions, result.rollbacks) == (4, 2, 2)
    # Two new champions in four weeks; two of the four deployments were undone.
    assert result.deployments_per_week == pytest.approx(0.5)
    assert result.change_failure_rate == pytest.approx(0.5)


def test_lead_time_runs_from_the_training_job_to_the_promotion_of_trained_versions_only() -> None:
    changes = [change(1, "promote", "v1", 2), change(2, "promote", "v2", 9), change(3, "promote", "imported", 12)]
    trained = {("card-fraud", "v1"): job("v1", 1.5), ("card-fraud", "v2"): job("v2", 5)}

    result = kpis(changes=changes, trained=trained)

    # 12 hours and 4 days; the imported version has no job and no lead time.
    assert result.lead_time_p50_hours == pytest.approx((12 + 96) / 2)
    assert result.lead_time_max_hours == pytest.approx(96)


def test_recovery_is_measured_on_drift_and_bias_alerts_closed_in_the_window() -> None:
    alerts = [
        alert("drift", 2, 2.5),  # 12 hours
        alert("bias", 5, 6),  # 24 hours
        alert("drift", -3, 1),  # opened before the window, closed in it: 96 hours
        alert("drift", -9, -8),  # closed before the window: not counted
        alert("bias", 20, None),  # still open
        alert("drift", 27, 29),  # closed after the window: open at its end
        alert("abuse", 3, 3.1),  # names a caller, not a model
    ]

    result = kpis(alerts=alerts)

    assert result.mean_time_to_recovery_hours == pytest.approx((12 + 24 + 96) / 3)
    assert (result.alerts_opened, result.alerts_closed, result.alerts_open) == (4, 3, 2)


def test_retraining_cadence_counts_the_window_s_jobs_by_trigger() -> None:
    jobs = [
        job("v2", 10, trigger="drift"),
        job("v1", 1, trigger="schedule"),
        job("v3", 22, trigger="schedule", state="rejected"),
    ]

    result = kpis(jobs=jobs)

    assert result.training_jobs == 3
    assert result.training_jobs_by_trigger == {"drift": 1, "schedule": 2}
    assert result.versions_trained == 2
    # Jobs on days 1, 10 and 22: 9 and 12 days apart.
    assert result.retraining_interval_days == pytest.approx(10.5)


def test_review_and_override_rates_come_from_the_decisions() -> None:
    usage = [fact(), fact(), fact(review=True, overridden=True), fact(review=True)]

    result = kpis(usage=usage)

    assert result.decisions == 4
    assert result.review_rate == pytest.approx(0.5)
    assert result.override_rate == pytest.approx(0.5)


def test_a_quiet_window_reports_what_cannot_be_measured_as_none() -> None:
    result = kpis()

    assert (result.deployments, result.promotions, result.rollbacks, result.deployments_per_week) == (0, 0, 0, 0.0)
    for measure in (
        result.change_failure_rate,
        result.lead_time_p50_hours,
        result.lead_time_max_hours,
        result.mean_time_to_recovery_hours,
        result.retraining_interval_days,
        result.review_rate,
        result.override_rate,
    ):
        assert measure is None
    assert result.training_jobs_by_trigger == {}
