"""The monitor over decisions really made and stored: drift against the champion's training baseline, a
retraining request when drift starts, insufficient windows, bias on a constructed biased model, alerts."""

from __future__ import annotations

import functools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import EmptySnapshotError
from leaim.governance.audit.events import ScheduleGate
from leaim.governance.oversight.monitor import Monitor, run_monitor
from tests.integration.governance.harness import AGE_BANDS, USE_CASE, GovernanceBench, transaction

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.governance.v1 import Alert
    from leaim.governance.oversight.monitor import MonitorRun


@pytest.fixture
def bench(engine: Engine, tmp_path: Path) -> GovernanceBench:
    built = GovernanceBench(engine, tmp_path)
    built.publish_champion()
    return built


EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def drift_alerts(run: MonitorRun) -> list[Alert]:
    return [alert for alert in run.opened if alert.kind == "drift"]


def drift_reports(bench: GovernanceBench) -> dict[str, object]:
    answer = bench.call(lambda inv: bench.api.drift(USE_CASE, inv), "ml-key")
    assert answer.status == 200, answer.body
    return answer.body


def test_live_traffic_like_training_is_stable_and_a_shift_is_drift_that_asks_for_retraining_once(
    bench: GovernanceBench,
) -> None:
    bench.traffic(240, seed=11)
    stable = bench.monitor.run()

    bench.traffic(360, seed=12, shifted=True)
    drifted = bench.monitor.run()
    again = bench.monitor.run()

    [before] = stable.drift
    assert (before.status, before.rows, before.drifted_features) == ("stable", 240, [])
    assert stable.retraining == [] and drift_alerts(stable) == []
    [after] = drifted.drift
    assert after.status == "drift"
    assert after.rows == 600
    # Amounts and card-not-present payments were shifted; the hour of day was not.
    assert {"log_amount", "amount_to_avg", "card_not_present"} <= set(after.drifted_features)
    assert "night" not in after.drifted_features
    kinds = {feature.feature: (feature.kind, feature.test) for feature in after.features}
    assert kinds["log_amount"] == ("numeric", "ks")
    assert kinds["card_not_present"] == ("categorical", "chi_square")
    assert after.score is not None and after.score.live_rows == 600
    # One drift alert and one retraining request, made by the monitor with the drift as reason.
    assert [(alert.subject, alert.model_version) for alert in drift_alerts(drifted)] == [("drift", "v1")]
    [(use_case, request, principal)] = bench.retraining
    assert (use_case, request.trigger, request.deploy, principal) == (USE_CASE, "drift", "shadow", "monitor:drift")
    assert "log_amount" in request.reason
    # The successor learns from the last month (the manifest's retrain_window_days), not the old distribution.
    assert request.since is not None
    assert request.since == after.window_end - timedelta(days=30)
    assert after.retraining_job_id == "job-1"
    # The drift persists: the alert stays open and no second job is asked for.
    assert again.drift[0].status == "drift" and drift_alerts(again) == [] and len(bench.retraining) == 1
    served = drift_reports(bench)
    assert served["latest"][0]["status"] == "drift"
    assert served["latest"][0]["model_version"] == "v1"
    assert [report["status"] for report in served["history"]] == ["drift", "drift", "stable"]
    open_alerts = bench.call(lambda inv: bench.api.alerts({}, inv), "auditor-key").body["alerts"]
    assert [alert["subject"] for alert in open_alerts if alert["kind"] == "drift"] == ["drift"]


def test_a_window_with_too_few_rows_is_insufficient_not_drift(bench: GovernanceBench) -> None:
    bench.traffic(40, seed=13, shifted=True)

    run = bench.monitor.run()

    [report] = run.drift
    assert (report.status, report.rows, report.min_rows) == ("insufficient", 40, 200)
    assert report.features == [] and report.drifted_features == []
    assert drift_alerts(run) == [] and bench.retraining == []


def test_the_monitor_run_stores_one_audit_event_with_what_it_found(bench: GovernanceBench) -> None:
    bench.traffic(30, seed=14)
    run = run_monitor(
        bench.monitor,
        ScheduleGate(
            audit_log=bench.audit_log, telemetry=bench.telemetry, clock=bench.clock, source="DriftMonitorFunction"
        ),
        "monitor-run-1",
    )

    events = [e for e in bench.audit_log.events(limit=100_000) if e.invocation_id == "monitor-run-1"]
    assert [(e.action, e.outcome, e.principal) for e in events] == [("monitor.run", "success", "monitor:drift")]
    assert events[0].details["drift"] == {"card_fraud/v1": "insufficient"}
    assert run.drift[0].status == "insufficient"


def biased_traffic(bench: GovernanceBench, count: int, *, biased: bool, seed: int) -> None:
    """Decisions for all age bands; when `biased`, the 65+ band's payments are the risky night-time ones."""
    rng = random.Random(seed)
    for number in range(count):
        band = AGE_BANDS[number % len(AGE_BANDS)]
        inputs = transaction(rng, age_band=band)
        inputs.update(hour_of_day=14, card_present=True, merchant_category="grocery", amount=50.0)
        if biased and band == "65+":
            inputs.update(hour_of_day=2, card_present=False)
        bench.decide(inputs)


def test_a_constructed_biased_model_crosses_disparate_impact_and_raises_an_alert(bench: GovernanceBench) -> None:
    biased_traffic(bench, 160, biased=True, seed=15)

    run = bench.monitor.run()

    [report] = run.bias
    [indicators] = report.indicators
    assert (indicators.attribute, indicators.model_version) == ("cardholder_age_band", "v1")
    rates = {group.group: group.favorable_rate for group in indicators.groups}
    assert rates["65+"] == 0.0 and rates["18-25"] == 1.0
    assert indicators.disparate_impact == 0.0
    assert indicators.equal_opportunity_difference is None
    assert len(indicators.alerts) == 1 and "disparate impact" in indicators.alerts[0]
    assert [(a.kind, a.subject) for a in run.opened] == [("bias", "cardholder_age_band:disparate_impact")]
    served = bench.call(lambda inv: bench.api.bias(USE_CASE, inv), "auditor-key")
    assert served.body["indicators"][0]["disparate_impact"] == 0.0


def test_an_unbiased_model_raises_no_bias_alert_and_outcomes_add_equal_opportunity(bench: GovernanceBench) -> None:
    biased_traffic(bench, 160, biased=False, seed=16)
    # Every payment turned out legitimate: each group's favorable truths were all approved alike.
    for decision in bench.store.window(USE_CASE, EVER[0], EVER[1]):
        decision_id = decision.response.decision_id
        body = json.dumps({"label": False, "observed_at": decision.response.decided_at.isoformat()}).encode()
        reply = bench.call(functools.partial(bench.api.record_outcome, decision_id, body), "client-key")
        assert reply.status == 201

    run = bench.monitor.run()

    [indicators] = run.bias[0].indicators
    assert indicators.disparate_impact == 1.0
    assert indicators.equal_opportunity_difference == 0.0
    assert indicators.alerts == [] and run.opened == []


def test_a_window_past_its_row_limit_keeps_the_latest_decisions_oldest_first(bench: GovernanceBench) -> None:
    made = [decision["decision_id"] for decision in bench.traffic(5, seed=17)]

    latest = bench.store.window(USE_CASE, EVER[0], EVER[1], limit=3)
    everything = bench.store.window(USE_CASE, EVER[0], EVER[1])

    assert [stored.response.decision_id for stored in latest] == made[2:]
    assert [stored.response.decision_id for stored in everything] == made


class FailingRetrainer:
    def __init__(self) -> None:
        self.calls = 0

    def retrain(self, use_case: str, request: object, *, principal: str) -> object:
        self.calls += 1
        raise EmptySnapshotError("no record in the window")


def test_a_retraining_that_could_not_start_is_asked_for_again_by_the_next_run(bench: GovernanceBench) -> None:
    failing = FailingRetrainer()
    bench.monitor = Monitor(
        catalog=bench.catalog,
        router=bench.registry,
        registry=bench.registry,
        store=bench.store,
        retrainer=failing,  # type: ignore[arg-type]
        clock=bench.clock,
    )
    bench.traffic(220, seed=18, shifted=True)

    first = bench.monitor.run()
    calls_after_first = failing.calls
    second = bench.monitor.run()

    assert first.drift[0].status == "drift" and calls_after_first == 1
    assert any("retraining was not started" in problem for problem in first.problems)
    assert second.drift[0].status == "drift" and failing.calls == 2


def test_an_open_drift_alert_stays_open_through_a_quiet_window(bench: GovernanceBench) -> None:
    bench.traffic(220, seed=19, shifted=True)
    drifted = bench.monitor.run()
    manifest = bench.catalog.get(USE_CASE)
    quiet = manifest.model_copy(update={"monitoring": manifest.monitoring.model_copy(update={"min_rows": 10_000})})
    bench.monitor._catalog = ManifestCatalog({USE_CASE: quiet})  # the same traffic is now too little to judge

    insufficient = bench.monitor.run()

    assert drifted.drift[0].status == "drift" and len(bench.retraining) == 1
    assert insufficient.drift[0].status == "insufficient" and insufficient.closed == 0
    assert [a.kind for a in bench.store.alerts(use_case=USE_CASE) if a.kind == "drift"] == ["drift"]
