"""`leaim demo --drift`: the feedback loop on the embedded default, each step with its audit event.

A reference model is trained and serves ordinary traffic; the drift monitor finds it stable. Records of a
new kind (larger amounts, more foreign, night and digital goods transactions) are ingested and, once the
reference traffic has left the monitor's window, traffic of the new kind arrives: the monitor finds drift
on named features, opens an alert and queues a retraining job (trigger `drift`) that the training worker
runs; the new version enters shadow, and the promotion controller advances it to canary and makes it
champion (or rolls it back). Outcomes are recorded and a reviewer overrides one decision. The monitor then
finds the new champion stable and closes the alert; the governance coverage report ends the run.

The demo runs with its own copy of the use case manifest: a monitoring window of half a minute instead
of a day, and a promotion that needs fewer challenger requests, so that the loop fits in a couple of minutes.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.table import Table
from rich.text import Text

from embedded.clients.governance import GovernanceClient
from embedded.clients.http import send
from embedded.clients.ingestion import IngestClient
from embedded.clients.lifecycle import LifecycleClient
from embedded.clients.records import batches
from embedded.clients.tables import drift_table, percent, print_coverage
from embedded.demos.traffic import decision_request
from embedded.synthetic import CardFraudGenerator, transaction_record
from embedded.world import INGEST_BATCH, REFERENCE_DATASET, REFERENCE_USE_CASE, LocalWorld, WorldOptions
from leaim.domain.manifests import shipped_directory
from leaim.exceptions import ConfigurationError
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import JsonValue
    from rich.console import Console

    from contracts.audit.v1 import AuditEvent
    from contracts.governance.v1 import CoverageReport, DriftReport
    from contracts.model.v1 import TrainingJob
    from embedded.synthetic import Card, LabeledTransaction

MONITOR_SOURCE = "DriftMonitorFunction"
CONTROLLER_SOURCE = "PromotionControllerFunction"
DECISION_SOURCE = "DecisionApiFunction"
GOVERNANCE_SOURCE = "GovernanceApiFunction"
INGEST_SOURCE = "IngestApiFunction"
LIFECYCLE_SOURCE = "LifecycleApiFunction"
TRAINING_SOURCE = "TrainingQueueFunction"
# Training records come from a few hundred cards: each card's online features are written once per batch, and
# those conditional writes are much of what ingestion on moto spends its time on.
TRAINING_CARDS = 300
JOB_TIMEOUT_S = 300.0
# Marks a state folder as the drift demo's own, so that a later run may empty it.
DEMO_MARKER = ".leaim-drift-demo"


@dataclass
class DriftDemoOptions:
    """How much data and traffic the feedback loop uses, and how far the traffic shifts."""

    training_rows: int = 2_000
    # Retraining takes every stored record: four of the new kind to one of the old, so that it learns the new
    # distribution well enough for the traffic of the new kind to look like its training baseline.
    shifted_training_rows: int = 8_000
    # Decisions of each window the monitor judges; at least the demo manifest's `min_rows`.
    requests: int = 150
    min_rows: int = 120
    # Challenger requests the controller needs before advancing or promoting.
    challenger_requests: int = 30
    canary_percent: float = 50.0
    outcomes: int = 30
    # `CardFraudGenerator` drift: 0 is the reference distribution, 1 the most shifted.
    drift: float = 0.6
    # The demo manifest's monitoring window, instead of the shipped day.
    window_s: float = 30.0
    # Decision requests in flight at once. The local stack runs a Chalice app's concurrent invocations on threads
    # of one module, which share `app.lambda_context`: an audit event could then carry another invocation's
    # request id, and the coverage report would count that invocation as unaudited.
    concurrency: int = 1
    world: WorldOptions = field(
        default_factory=lambda: WorldOptions(state_dir=Path(".leaim") / "drift-demo", run_schedules=False)
    )


@dataclass(frozen=True)
class Step:
    """One step of the loop: what happened, and the audit events that record it."""

    name: str
    what: str
    events: list[AuditEvent]


@dataclass
class FeedbackLoop:
    """What the loop did and saw; `problems` lists what did not go as the loop promises."""

    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    champion_before: str | None = None
    champion_after: str | None = None
    stable_before: DriftReport | None = None
    drift: DriftReport | None = None
    stable_after: DriftReport | None = None
    retraining: TrainingJob | None = None
    controller_actions: list[str] = field(default_factory=list)
    alert_id: str | None = None
    alert_closed: bool = False
    coverage: CoverageReport | None = None

    def step(self, name: str, what: str, events: Sequence[AuditEvent]) -> None:
        """Record a step; a step without an audit event is a problem."""
        self.steps.append(Step(name, what, list(events)))
        if not events:
            self.problems.append(f"{name}: no audit event")

    def expect(self, holds: bool, problem: str) -> None:
        """Note `problem` unless `holds`."""
        if not holds:
            self.problems.append(problem)


def demo_use_cases(folder: Path, options: DriftDemoOptions) -> Path:
    """Write the demo's copy of the shipped manifests into `folder`: the reference use case judged over
    `window_s` seconds and promoted after `challenger_requests` requests. Returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in shipped_directory().glob("*.yaml"):
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        if document.get("name") == REFERENCE_USE_CASE:
            document["monitoring"] = {
                **document.get("monitoring", {}),
                "window_hours": options.window_s / 3600,
                "min_rows": options.min_rows,
            }
            document["promotion"] = {
                **document.get("promotion", {}),
                "min_requests": options.challenger_requests,
                "canary_percent": options.canary_percent,
            }
        (folder / source.name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return folder


def run_drift_demo(options: DriftDemoOptions, console: Console) -> int:
    """Run the feedback loop on a fresh stack in `options.world.state_dir` and print it.

    The folder is emptied first if an earlier run made it; a folder holding anything else is refused with
    ConfigurationError. Returns 0 when every step went as promised, with its audit event, and audit
    coverage is complete; else 1.
    """
    state_dir = options.world.state_dir
    if state_dir.exists() and any(state_dir.iterdir()):
        if not (state_dir / DEMO_MARKER).exists():
            raise ConfigurationError(f"{state_dir} holds files the drift demo did not make: give another folder")
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / DEMO_MARKER).touch()
    use_cases = demo_use_cases(state_dir / "use_cases", options)
    world_options = replace(options.world, use_cases_dir=use_cases)
    with LocalWorld(world_options) as world:
        console.print(f"[bold]Local stack[/] API {world.running.api_url}, state in {world.state_dir}")
        loop = run_feedback_loop(world, options, console)
    print_feedback_loop(console, loop)
    if loop.problems:
        console.print(f"[bold red]{len(loop.problems)} problems:[/]")
        for problem in loop.problems:
            console.print(f"  {problem}", markup=False, highlight=False)
        return 1
    if loop.champion_after is None:
        console.print("[bold yellow]The controller rolled the retrained version back; the drift alert stays open.[/]")
    else:
        console.print("[bold green]The loop closed: drift found, retrained, promoted, stable again, all audited.[/]")
    return 0


def run_feedback_loop(world: LocalWorld, options: DriftDemoOptions, console: Console) -> FeedbackLoop:
    """Drive the loop on a started world whose manifests came from `demo_use_cases`."""
    driver = _Driver(world, options, console)
    driver.reference_phase()
    driver.shift_phase()
    job = driver.retraining()
    if job is not None and job.state == "succeeded":
        promoted = driver.promotion_phase(job)
        driver.oversight_phase()
        if promoted:
            driver.settle_phase()
    return driver.finish()


def _now() -> datetime:
    return datetime.now(UTC)


def _status(report: DriftReport | None) -> str:
    if report is None:
        return "no report"
    return f"{report.model_version} {report.status} over {report.rows} rows, drifted {report.drifted_features}"


class _Driver:
    """The loop's steps over one world, each recorded in `loop` with its audit events."""

    def __init__(self, world: LocalWorld, options: DriftDemoOptions, console: Console) -> None:
        self.world = world
        self.options = options
        self.console = console
        self.loop = FeedbackLoop()
        api_url, keys = world.running.api_url, world.api_keys
        self.governance = GovernanceClient(api_url, keys["auditor"])
        self.lifecycle = LifecycleClient(api_url, keys["ml_engineer"])
        seed = world.options.seed
        self.cards: list[Card] = CardFraudGenerator(world.manifest, seed=seed + 1).cards(500)
        self.reference = CardFraudGenerator(world.manifest, seed=seed + 2)
        self.shifted = CardFraudGenerator(world.manifest, seed=seed + 3, drift=options.drift)
        # The true label of every decision made, by decision id, for outcomes and the review.
        self.labels: dict[str, bool] = {}
        self.baseline_end = self.loop.started
        self.monitored: list[AuditEvent] = []

    def reference_phase(self) -> None:
        """Train and promote the reference model, serve reference traffic, and find it stable."""
        loop, options = self.loop, self.options
        since = _now()
        with self.console.status(f"Training the reference model on {options.training_rows} transactions..."):
            trained = self.world.train(rows=options.training_rows, cards=TRAINING_CARDS)
        loop.champion_before = trained.model_version
        loop.step(
            f"trained {trained.model_version}",
            f"on snapshot {trained.lineage.snapshot_id} ({options.training_rows} reference transactions), "
            f"AUC {trained.metrics.auc:.3f}, promoted to champion",
            [
                *self._events(since, source=TRAINING_SOURCE, action="model.training_job.run"),
                *self._events(since, source=LIFECYCLE_SOURCE, action="model.traffic.change"),
            ],
        )
        self.world.seed(self.cards)
        since = _now()
        self._traffic("baseline", self.reference.transactions(options.requests, self.cards))
        self.baseline_end = _now()
        loop.step("baseline traffic", f"{options.requests} decisions of the reference kind", self._decisions(since))
        loop.stable_before = self._monitor("before the shift")
        loop.expect(
            loop.stable_before is not None and loop.stable_before.status == "stable",
            f"the monitor did not find the reference traffic stable: {_status(loop.stable_before)}",
        )

    def shift_phase(self) -> None:
        """Ingest records of the new kind, serve traffic of the new kind, and find it drifting."""
        loop, options = self.loop, self.options
        since = _now()
        self._ingest_shifted()
        loop.step(
            "shifted records ingested",
            f"{options.shifted_training_rows} labelled transactions of the new kind, through the ingestion API",
            self._events(since, source=INGEST_SOURCE, action="ingest.records"),
        )
        # The monitor judges its window: the traffic of the new kind alone, once the reference traffic has left it.
        self._wait_for_window()
        since = _now()
        self._traffic("shifted", self.shifted.transactions(options.requests, self.cards))
        loop.step(
            "shifted traffic",
            f"{options.requests} decisions: amounts x{1 + 1.5 * options.drift:.1f}, "
            "more foreign, night and digital goods",
            self._decisions(since),
        )
        loop.drift = self._monitor("after the shift")
        loop.expect(
            loop.drift is not None and loop.drift.status == "drift",
            f"the monitor did not find the shifted traffic drifting: {_status(loop.drift)}",
        )
        alerts = [
            alert
            for alert in self.governance.alerts(REFERENCE_USE_CASE).alerts
            if alert.kind == "drift" and alert.model_version == loop.champion_before
        ]
        if not alerts:
            loop.problems.append(f"no drift alert of {loop.champion_before} is open after the drift")
            return
        loop.alert_id = alerts[0].alert_id
        opened = [event for event in self.monitored if event.details.get("alerts_opened")]
        loop.step("drift alert opened", f"{loop.alert_id[:12]}: {alerts[0].message}", opened)

    def retraining(self) -> TrainingJob | None:
        """Follow the job the drift queued until it ends, and check the version it published went to shadow."""
        loop = self.loop
        job_id = loop.drift.retraining_job_id if loop.drift is not None else None
        if job_id is None:
            loop.problems.append("the drift queued no retraining job")
            return None
        queued = self.lifecycle.training_job(job_id)
        loop.step(
            "retraining queued",
            f"job {job_id[:12]} by {queued.requested_by}, trigger {queued.trigger}, "
            f"snapshot {queued.snapshot_id}, deploy {queued.deploy}",
            [event for event in self.monitored if job_id in event.details.get("retraining_jobs", [])],
        )
        loop.expect(queued.trigger == "drift", f"the retraining job's trigger is {queued.trigger}, not drift")
        with self.console.status(f"Training {queued.version} on the training worker..."):
            job = self.world.wait_for_job(job_id, timeout_s=JOB_TIMEOUT_S)
        loop.retraining = job
        runs = [
            event
            for event in self._events(queued.created_at, source=TRAINING_SOURCE, action="model.training_job.run")
            if event.details.get("job_id") == job_id
        ]
        loop.step(f"trained {job.version}", f"{job.state}: {job.message or '; '.join(job.reasons)}", runs)
        if job.state != "succeeded":
            loop.problems.append(f"retraining job {job_id} ended {job.state}: {job.message} {job.reasons}")
            return job
        since = _now()
        policy = self.lifecycle.traffic(REFERENCE_USE_CASE)
        loop.expect(
            policy.challenger == job.version and policy.policy == "shadow",
            f"{job.version} did not enter shadow: challenger {policy.challenger} ({policy.policy})",
        )
        loop.step(
            f"{job.version} in shadow",
            f"challenger {policy.challenger} ({policy.policy}) beside champion {policy.champion}",
            self._events(since, source=LIFECYCLE_SOURCE, action="model.traffic.read"),
        )
        return job

    def promotion_phase(self, job: TrainingJob) -> bool:
        """Shadow traffic, the controller, canary traffic, the controller again; True when `job`'s version
        became champion, False when the controller rolled it back (the old champion then keeps serving)."""
        self._challenger_traffic("shadow")
        if self._controller("advance") != "advance":
            return False
        self._challenger_traffic("canary")
        if self._controller("promote") != "promote":
            return False
        self.loop.champion_after = self.lifecycle.traffic(REFERENCE_USE_CASE).champion
        self.loop.expect(
            self.loop.champion_after == job.version,
            f"{job.version} did not become champion (champion: {self.loop.champion_after})",
        )
        return True

    def oversight_phase(self) -> None:
        """Ground truth for the latest decisions, as a chargeback feed sends it, and one reviewer override."""
        loop = self.loop
        client = GovernanceClient(self.world.running.api_url, self.world.api_keys["decision_client"])
        since = _now()
        chosen = list(self.labels.items())[-self.options.outcomes :]
        for decision_id, label in chosen:
            client.record_outcome(decision_id, label, source="chargebacks")
        loop.step(
            "outcomes recorded",
            f"ground truth of {len(chosen)} decisions from chargebacks ({sum(label for _, label in chosen)} fraud)",
            self._events(since, source=GOVERNANCE_SOURCE, action="decision.outcome"),
        )
        reviewer = GovernanceClient(self.world.running.api_url, self.world.api_keys["reviewer"])
        # The queue is read from the SQL trail, which the audit writer fills from the accepted store.
        self.world.settle()
        pending = reviewer.reviews(REFERENCE_USE_CASE, limit=1).reviews
        if not pending:
            loop.problems.append("no decision is waiting for a review")
            return
        review = pending[0]
        fraud = self.labels.get(review.decision_id, False)
        outcome = "declined" if fraud else "approved"
        reason = "The cardholder reported the card stolen." if fraud else "The cardholder confirmed it by phone."
        since = _now()
        resolved = reviewer.override(review.review_id, outcome, reason)
        loop.expect(resolved.override is not None, f"review {review.review_id} is {resolved.status} after the override")
        loop.step(
            "review override",
            f"decision {review.decision_id[:12]}: {review.outcome} -> {outcome}, {reason}",
            self._events(since, source=GOVERNANCE_SOURCE, action="review.override"),
        )

    def settle_phase(self) -> None:
        """Traffic of the new kind served by the new champion; the monitor finds it stable and closes the alert."""
        loop, options = self.loop, self.options
        since = _now()
        self._traffic("after", self.shifted.transactions(options.requests, self.cards))
        loop.step(
            "traffic after promotion",
            f"{options.requests} decisions of the new kind, served by {loop.champion_after}",
            self._decisions(since),
        )
        loop.stable_after = self._monitor("on the new champion")
        loop.expect(
            loop.stable_after is not None
            and loop.stable_after.status == "stable"
            and loop.stable_after.model_version == loop.champion_after,
            f"the monitor did not find the new champion stable: {_status(loop.stable_after)}",
        )
        alerts = {a.alert_id: a for a in self.governance.alerts(REFERENCE_USE_CASE, include_closed=True).alerts}
        alert = alerts.get(loop.alert_id or "")
        loop.alert_closed = alert is not None and alert.closed_at is not None
        loop.expect(loop.alert_closed, f"the drift alert {loop.alert_id} is still open")
        closed = f"closed at {alert.closed_at:%H:%M:%S}" if alert is not None and alert.closed_at else "still open"
        loop.step(
            "drift alert closed",
            f"{(loop.alert_id or '-')[:12]} {closed}",
            [event for event in self.monitored if event.details.get("alerts_closed")],
        )

    def finish(self) -> FeedbackLoop:
        """The coverage report over the whole run; anything short of full audit coverage is a problem."""
        loop = self.loop
        until = _now()
        with self.console.status("Reading the governance coverage report..."):
            self.world.settle()
            loop.coverage = coverage = self.governance.coverage(since=loop.started, until=until)
        loop.step(
            "coverage report",
            f"audit coverage {percent(coverage.audit_coverage)} of {coverage.invocations} invocations, "
            f"coverage ratio {percent(coverage.coverage_ratio)}",
            self._events(until, source=GOVERNANCE_SOURCE, action="governance.coverage"),
        )
        loop.expect(
            coverage.audit_coverage == 1.0,
            f"audit coverage is {percent(coverage.audit_coverage)}: {coverage.unaudited_invocations}",
        )
        return loop

    def _wait_for_window(self) -> None:
        """Until the reference traffic is older than the monitor's window."""
        wait_s = (self.baseline_end + timedelta(seconds=self.options.window_s + 1) - _now()).total_seconds()
        if wait_s > 0:
            with self.console.status(f"Waiting {wait_s:.0f} s for the reference traffic to leave the window..."):
                time.sleep(wait_s)

    def _events(self, since: datetime, **query: Any) -> list[AuditEvent]:
        return self.world.audit_log.events(AuditQuery(since=since, **query), limit=100_000)

    def _decisions(self, since: datetime) -> list[AuditEvent]:
        return self._events(since, source=DECISION_SOURCE, action="decision.create")

    def _traffic(self, phase: str, transactions: list[LabeledTransaction]) -> list[dict[str, Any]]:
        """Send the transactions as decision requests; returns the decisions, and notes each one's true label."""
        key = self.world.api_keys["decision_client"]
        api_url = self.world.running.api_url
        requests = [
            decision_request(REFERENCE_USE_CASE, f"{self.world.run_id}-{phase}-{index}", transaction.inputs, key)
            for index, transaction in enumerate(transactions)
        ]
        with (
            self.console.status(f"{phase.capitalize()} traffic: {len(requests)} decisions..."),
            ThreadPoolExecutor(max_workers=self.options.concurrency) as pool,
        ):
            answers = list(pool.map(lambda request: send(api_url, request, 30.0), requests))
        decided = []
        for answer, transaction in zip(answers, transactions, strict=True):
            if answer.status != 200:
                self.loop.problems.append(f"{phase} decision answered {answer.status}: {answer.body}")
                continue
            self.labels[str(answer.body["decision_id"])] = bool(transaction.label)
            decided.append(answer.body)
        return decided

    def _ingest_shifted(self) -> None:
        """Labelled records of the new kind, with event times over the last day, through the ingestion API."""
        client = IngestClient(self.world.running.api_url, self.world.api_keys["data_producer"])
        rows = self.options.shifted_training_rows
        transactions = self.shifted.transactions(rows, self.shifted.cards(TRAINING_CARDS))
        start = _now() - timedelta(days=1)
        step = timedelta(days=1) / max(rows, 1)
        records: list[dict[str, JsonValue]] = [
            dict(transaction_record(t, start + index * step)) for index, t in enumerate(transactions)
        ]
        with self.console.status(f"Ingesting {rows} records of the new kind..."):
            for batch in batches(records, INGEST_BATCH):
                client.ingest_batch(REFERENCE_DATASET, batch)

    def _monitor(self, when: str) -> DriftReport | None:
        """Run the drift monitor once; returns the champion's report, read through the governance API."""
        since = _now()
        with self.console.status(f"Running the drift monitor {when}..."):
            summary = self.world.run_schedule(MONITOR_SOURCE)
        if summary.get("problems"):
            self.loop.problems.append(f"monitor run {when}: {summary['problems']}")
        reports = self.governance.drift(REFERENCE_USE_CASE)
        report = next((r for r in reports.latest if r.role == "champion" and r.computed_at >= since), None)
        what = _status(report)
        if report is not None and report.drifted_features:
            strongest = sorted((f for f in report.features if f.drifted), key=lambda f: -f.psi)
            what = f"{report.model_version} drifts over {report.rows} decisions on " + ", ".join(
                f"{f.feature} (PSI {f.psi:.2f})" for f in strongest
            )
        self.monitored = self._events(since, source=MONITOR_SOURCE, action="monitor.run")
        self.loop.step(f"monitor {when}", what, self.monitored)
        return report

    def _challenger_traffic(self, policy: str) -> None:
        """Enough traffic of the new kind for the challenger to reach the controller's `min_requests`."""
        options = self.options
        share = 1.0 if policy == "shadow" else options.canary_percent / 100
        count = int(options.challenger_requests / share * 1.5) + 10
        since = _now()
        decided = self._traffic(policy, self.shifted.transactions(count, self.cards))
        served = Counter(str(d["model"]["version"]) if d.get("model") else "fallback" for d in decided)
        shown = ", ".join(f"{version}: {n}" for version, n in sorted(served.items()))
        self.loop.step(f"{policy} traffic", f"{count} decisions, decided by {shown}", self._decisions(since))

    def _controller(self, expected: str) -> str:
        """Run the promotion controller once; returns its action. A rollback is a verdict the loop accepts."""
        since = _now()
        result = self.world.run_schedule(CONTROLLER_SOURCE)
        decision = next(d for d in result["decisions"] if d["use_case"] == REFERENCE_USE_CASE)
        action = str(decision["action"])
        self.loop.controller_actions.append(action)
        self.loop.expect(action in (expected, "rollback"), f"the controller chose {action}, not {expected}")
        self.loop.step(
            f"controller: {action}",
            "; ".join(decision["reasons"]),
            self._events(since, source=CONTROLLER_SOURCE, action="model.promotion.evaluate"),
        )
        return action


def _event_text(events: Sequence[AuditEvent]) -> str:
    if not events:
        return "none"
    last = events[-1]
    actions = sorted({f"{e.action} {e.outcome}" for e in events})
    count = f"{len(events)} events, last " if len(events) > 1 else ""
    return f"{' + '.join(actions)}: {count}{last.event_id[:12]} at {last.occurred_at:%H:%M:%S}"


def print_feedback_loop(console: Console, loop: FeedbackLoop) -> None:
    """The timeline, the drift the monitor found, and the coverage report."""
    timeline = Table(title="The feedback loop, step by step, with its audit events")
    timeline.add_column("step")
    timeline.add_column("what happened", overflow="fold")
    timeline.add_column("audit event", overflow="fold")
    for step in loop.steps:
        timeline.add_row(Text(step.name), Text(step.what), Text(_event_text(step.events)))
    console.print(timeline)
    if loop.drift is not None:
        console.print(drift_table(loop.drift))
    if loop.coverage is not None:
        print_coverage(console, loop.coverage)
