"""The feedback loop on the embedded default: traffic shifts, the monitor names the drifting features, the
drift queues a retraining job, the new version goes through shadow and canary to champion (or is rolled
back), the monitor finds it stable and closes the alert; every step audited, every invocation too."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from contracts.governance.v1 import AlertList
from contracts.model.v1 import TrafficPolicy
from embedded.clients.governance import GovernanceClient
from embedded.demos.drift import (
    DriftDemoOptions,
    FeedbackLoop,
    demo_use_cases,
    print_feedback_loop,
    run_feedback_loop,
)
from embedded.world import LocalWorld, WorldOptions

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

USE_CASE = "card_fraud"
# What `CardFraudGenerator(drift=...)` moves: amounts, the foreign and night shares, digital goods.
SHIFTED = {"log_amount", "amount_to_avg", "foreign", "night", "risky_merchant"}
UNCHANGED = {"txn_count_24h", "card_not_present"}


@pytest.fixture(scope="module")
def options(tmp_path_factory: pytest.TempPathFactory) -> DriftDemoOptions:
    state_dir = tmp_path_factory.mktemp("drift-loop")
    return DriftDemoOptions(world=WorldOptions(state_dir=state_dir, stack_name="e2e-drift-loop", run_schedules=False))


@pytest.fixture(scope="module")
def ran(options: DriftDemoOptions) -> Iterator[tuple[LocalWorld, FeedbackLoop]]:
    use_cases = demo_use_cases(options.world.state_dir / "use_cases", options)
    with LocalWorld(replace(options.world, use_cases_dir=use_cases)) as world:
        yield world, run_feedback_loop(world, options, Console(file=io.StringIO()))


@pytest.fixture(scope="module")
def world(ran: tuple[LocalWorld, FeedbackLoop]) -> LocalWorld:
    return ran[0]


@pytest.fixture(scope="module")
def loop(ran: tuple[LocalWorld, FeedbackLoop]) -> FeedbackLoop:
    return ran[1]


def promoted(loop: FeedbackLoop) -> bool:
    """Whether the controller made the retrained version champion; a rollback is the other verdict it may give."""
    return loop.champion_after is not None


def test_the_loop_went_as_promised(loop: FeedbackLoop) -> None:
    assert loop.problems == []


def test_the_reference_traffic_is_stable_before_the_shift(loop: FeedbackLoop, options: DriftDemoOptions) -> None:
    report = loop.stable_before
    assert report is not None
    assert (report.status, report.model_version, report.role) == ("stable", loop.champion_before, "champion")
    assert report.rows >= options.min_rows and report.drifted_features == []


def test_after_the_shift_the_monitor_names_the_shifted_features(world: LocalWorld, loop: FeedbackLoop) -> None:
    report = loop.drift
    assert report is not None
    assert (report.status, report.model_version) == ("drift", loop.champion_before)
    drifted = set(report.drifted_features)
    assert {"log_amount", "amount_to_avg"} <= drifted <= SHIFTED
    assert not drifted & UNCHANGED
    measured = {feature.feature: feature for feature in report.features}
    assert all(measured[name].psi >= report.max_psi and measured[name].p_value < report.max_p_value for name in drifted)

    alerts = AlertList.model_validate(world.call("GET", "/v1/alerts?status=all", "auditor")).alerts
    drift_alerts = [a for a in alerts if a.kind == "drift" and a.model_version == loop.champion_before]
    assert [a.alert_id for a in drift_alerts] == [loop.alert_id]
    assert all(name in drift_alerts[0].message for name in drifted)


def test_the_drift_queues_a_retraining_job_that_trains_on_the_new_records(
    world: LocalWorld, loop: FeedbackLoop, options: DriftDemoOptions
) -> None:
    assert loop.drift is not None and loop.retraining is not None
    job = loop.retraining
    assert job.job_id == loop.drift.retraining_job_id
    assert (job.state, job.trigger, job.requested_by, job.deploy) == ("succeeded", "drift", "monitor:drift", "shadow")
    manifest = world.version(job.version).manifest
    assert manifest.lineage.trigger == "drift" and manifest.lineage.snapshot_id == job.snapshot_id
    assert world.training_snapshot is not None and job.snapshot_id != world.training_snapshot.snapshot_id
    assert manifest.metrics.train_rows + manifest.metrics.holdout_rows == (
        options.training_rows + options.shifted_training_rows
    )


def test_the_new_version_goes_through_shadow_and_canary_to_champion_or_is_rolled_back(
    world: LocalWorld, loop: FeedbackLoop
) -> None:
    assert loop.retraining is not None
    policy = TrafficPolicy.model_validate(world.call("GET", f"/v1/use-cases/{USE_CASE}/traffic", "ml_engineer"))
    if promoted(loop):
        assert loop.controller_actions == ["advance", "promote"]
        assert (policy.champion, policy.previous_champion) == (loop.retraining.version, loop.champion_before)
    else:
        assert loop.controller_actions[-1] == "rollback"
        assert policy.champion == loop.champion_before
    assert policy.challenger is None
    names = [step.name for step in loop.steps]
    assert names.index(f"{loop.retraining.version} in shadow") < names.index("shadow traffic")
    assert names.index("controller: advance") < names.index("canary traffic") or not promoted(loop)


def test_the_new_champion_is_stable_and_the_drift_alert_closes(world: LocalWorld, loop: FeedbackLoop) -> None:
    alerts = AlertList.model_validate(world.call("GET", "/v1/alerts?status=all", "auditor")).alerts
    alert = next(a for a in alerts if a.alert_id == loop.alert_id)
    if not promoted(loop):
        assert alert.closed_at is None
        return
    report = loop.stable_after
    assert report is not None
    assert (report.status, report.model_version, report.drifted_features) == ("stable", loop.champion_after, [])
    assert alert.closed_at is not None and loop.alert_closed


def test_every_step_has_its_audit_event(world: LocalWorld, loop: FeedbackLoop, options: DriftDemoOptions) -> None:
    assert all(step.events for step in loop.steps), [step.name for step in loop.steps if not step.events]
    steps = {step.name: step for step in loop.steps}
    before, after = steps["monitor before the shift"].events, steps["monitor after the shift"].events
    assert [e.details["drift"] for e in before] == [{f"{USE_CASE}/{loop.champion_before}": "stable"}]
    assert loop.retraining is not None
    assert [e.details["retraining_jobs"] for e in after] == [[loop.retraining.job_id]]
    assert [e.details["alerts_opened"] for e in after] == [[f"drift:{USE_CASE}/{loop.champion_before}:drift"]]
    trained = steps[f"trained {loop.retraining.version}"].events
    assert [(e.action, e.details["trigger"], e.details["state"]) for e in trained] == [
        ("model.training_job.run", "drift", "succeeded")
    ]
    assert len(steps["outcomes recorded"].events) == options.outcomes
    (override,) = steps["review override"].events
    assert override.principal == "local-reviewer" and override.decision_id is not None
    auditor = GovernanceClient(world.running.api_url, world.api_keys["auditor"])
    trail = [record.event for record in auditor.audit_events({"decision_id": override.decision_id}).records]
    assert [e.action for e in trail if e.source != "worker:leaim-inference"] == ["decision.create", "review.override"]
    explained = auditor.explanation(override.decision_id)
    assert (explained.outcome, explained.final_outcome) == ("review", override.details["outcome"])
    if promoted(loop):
        (closing,) = steps["drift alert closed"].events
        assert closing.details["alerts_closed"] >= 1


def test_every_invocation_of_the_loop_has_its_audit_event(loop: FeedbackLoop) -> None:
    coverage = loop.coverage
    assert coverage is not None
    assert coverage.invocations > 0 and coverage.unaudited_invocations == []
    assert coverage.audit_coverage == 1.0
    assert coverage.explanation_coverage == 1.0 and coverage.version_coverage == 1.0


def test_the_timeline_prints_each_step_with_its_event(loop: FeedbackLoop) -> None:
    output = io.StringIO()
    print_feedback_loop(Console(file=output, width=200), loop)
    text = output.getvalue()
    for step in loop.steps:
        assert step.name in text and step.events[-1].event_id[:12] in text
    assert "invocations with their audit event" in text and "100.0%" in text
