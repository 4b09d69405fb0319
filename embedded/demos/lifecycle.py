"""The model lifecycle part of `leaim demo`: a challenger trained through the API, judged on live traffic in
shadow, advanced and promoted; a tampered challenger refused by the workers and rolled back by the controller;
a version that fails its gates refused at promotion. Every step is checked against its audit events."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.table import Table

from contracts.model.v1 import TrafficPolicy
from embedded.clients.http import Answer, send
from embedded.demos.traffic import decision_request
from embedded.exceptions import LocalCallError
from embedded.world import REFERENCE_USE_CASE
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from rich.console import Console

    from contracts.model.v1 import TrainingJob
    from embedded.synthetic import LabeledTransaction
    from embedded.world import LocalWorld

LIFECYCLE_SOURCE = "LifecycleApiFunction"
TRAINING_SOURCE = "TrainingQueueFunction"
CONTROLLER_SOURCE = "PromotionControllerFunction"
LIFECYCLE_ROUTES = ("models", "training-jobs", "use-cases")


@dataclass
class Lifecycle:
    """What the lifecycle phase did, what it saw, and what did not go as the flow promises."""

    answers: list[Answer] = field(default_factory=list)
    timeline: list[tuple[str, str]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    jobs: list[TrainingJob] = field(default_factory=list)
    controller_runs: int = 0
    calls_before: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def run_lifecycle_phase(
    world: LocalWorld, transactions: Iterator[LabeledTransaction], lifecycle: Lifecycle, console: Console
) -> None:
    """Train, judge, promote and roll back challengers of the reference model through the APIs."""
    assert world.training_snapshot is not None
    snapshot = world.training_snapshot.snapshot_id
    lifecycle.calls_before = Counter(world.calls)
    champion = _traffic(world).champion
    lifecycle.versions.append(str(champion))

    with console.status("Training a gradient boosted trees challenger, deployed in shadow..."):
        trees = _job(world, lifecycle, snapshot, family="gradient_boosted_trees", deploy="shadow")
    _step(lifecycle, f"trained {trees.version}", f"{trees.family}: {trees.state}, {trees.message}")
    _traffic_phase(world, transactions, lifecycle, console, "Shadow traffic", 60)
    _expect_controller(world, lifecycle, "advance", f"{trees.version} shadow -> canary")
    _traffic_phase(world, transactions, lifecycle, console, "Canary traffic", 60)
    promoted = world.call(
        "PUT",
        f"/v1/use-cases/{REFERENCE_USE_CASE}/traffic",
        "ml_engineer",
        {"version": trees.version, "policy": "full", "reason": "clean in shadow and canary"},
    )
    _step(lifecycle, "promoted by local-ml-engineer", f"champion {promoted['champion']}, previous {champion}")

    with console.status("Training a challenger whose artifact is then tampered with..."):
        tampered = _job(world, lifecycle, snapshot, params={"C": 0.3, "max_iter": 300}, deploy="shadow")
    digest = world.version(tampered.version).manifest.artifact_digest
    artifact = world.state_dir / "artifacts" / f"{digest}.onnx"
    flipped = bytearray(artifact.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    artifact.write_bytes(bytes(flipped))
    _step(lifecycle, f"tampered {tampered.version}", f"one byte flipped in {digest[:12]}.onnx after signing")
    answers = _traffic_phase(world, transactions, lifecycle, console, "Tampered shadow", 60)
    refused = [
        event
        for answer in answers
        if "decision_id" in answer.body
        for event in world.audit_log.events(AuditQuery(decision_id=str(answer.body["decision_id"])))
        if event.details.get("role") == "shadow" and event.outcome == "error"
    ]
    _step(lifecycle, "workers refused the artifact", f"{len(refused)} shadow calls failed; callers kept the champion")
    if not any("ArtifactVerificationError" in (event.error or "") for event in refused):
        lifecycle.problems.append("the tampered artifact was not refused with ArtifactVerificationError")
    _expect_controller(world, lifecycle, "rollback", f"{tampered.version} taken out of traffic")

    with console.status("Training a version that cannot pass its gates..."):
        weak = _job(world, lifecycle, snapshot, params={"C": 1e-6, "max_iter": 10}, deploy="shadow", approved=False)
    _step(lifecycle, f"rejected {weak.version}", "; ".join(weak.reasons)[:150])
    try:
        world.call(
            "PUT",
            f"/v1/use-cases/{REFERENCE_USE_CASE}/traffic",
            "ml_engineer",
            {"version": weak.version, "policy": "full"},
            expect=409,
        )
        _step(lifecycle, f"promoting {weak.version}", "refused: 409 version_rejected")
    except LocalCallError as error:
        lifecycle.problems.append(f"promoting a rejected version was not refused with 409: {error}")


def reconcile_lifecycle(world: LocalWorld, lifecycle: Lifecycle, since: datetime) -> dict[str, tuple[int, int]]:
    """Invocations made since the phase started against audit events stored, per lifecycle function.

    Mismatches become problems. `since` must be when `run_lifecycle_phase` started.
    """
    log = world.audit_log
    jobs = {job.job_id for job in lifecycle.jobs}
    runs = [
        e
        for e in log.events(AuditQuery(source=TRAINING_SOURCE, since=since), limit=1_000_000)
        if e.details.get("job_id") in jobs
    ]
    counts = {
        LIFECYCLE_SOURCE: (
            sum(world.calls[route] - lifecycle.calls_before[route] for route in LIFECYCLE_ROUTES),
            len(log.events(AuditQuery(source=LIFECYCLE_SOURCE, since=since), limit=1_000_000)),
        ),
        # Each job's message is delivered once here; a redelivery would show as a second event for its job.
        TRAINING_SOURCE + " (jobs)": (len(jobs), len(runs)),
        CONTROLLER_SOURCE: (
            lifecycle.controller_runs,
            len(log.events(AuditQuery(source=CONTROLLER_SOURCE, since=since))),
        ),
    }
    for source, (invocations, events) in counts.items():
        if invocations != events:
            lifecycle.problems.append(f"{source}: {invocations} invocations, {events} audit events")
    return counts


def print_lifecycle(console: Console, world: LocalWorld, lifecycle: Lifecycle) -> None:
    """The timeline of the phase and every version it made, with its gates."""
    timeline = Table(title="Model lifecycle, step by step (each step is an audit event)")
    timeline.add_column("step")
    timeline.add_column("what happened", overflow="fold")
    for step, what in lifecycle.timeline:
        timeline.add_row(step, what)
    console.print(timeline)
    versions = Table(title=f"Versions of {world.manifest.model.name}")
    for column in ("version", "family", "status", "AUC", "disparate impact", "parity", "aliases"):
        versions.add_column(column)
    for version in lifecycle.versions:
        view = world.version(version)
        manifest = view.manifest
        bias = next((g.value for g in manifest.gates if g.gate.startswith("disparate_impact")), None)
        versions.add_row(
            version,
            manifest.family,
            manifest.status,
            f"{manifest.metrics.auc:.3f}",
            "-" if bias is None else f"{bias:.3f}",
            f"{manifest.metrics.parity_max_abs_diff:.1e}",
            ", ".join(view.aliases) or "-",
        )
    console.print(versions)


def _job(
    world: LocalWorld, lifecycle: Lifecycle, snapshot: str, *, approved: bool = True, **request: Any
) -> TrainingJob:
    job = world.run_training_job(snapshot, **request)
    lifecycle.jobs.append(job)
    lifecycle.versions.append(job.version)
    if (job.state == "succeeded") != approved:
        lifecycle.problems.append(f"training job {job.job_id} ended {job.state}: {job.message} {job.reasons}")
    return job


def _traffic_phase(
    world: LocalWorld,
    transactions: Iterator[LabeledTransaction],
    lifecycle: Lifecycle,
    console: Console,
    title: str,
    count: int,
) -> list[Answer]:
    key = world.api_keys["decision_client"]
    prefix = title.lower().replace(" ", "-")
    traffic = [
        decision_request(REFERENCE_USE_CASE, f"{world.run_id}-{prefix}-{index}", next(transactions).inputs, key)
        for index in range(count)
    ]
    with console.status(f"{title}: {count} decisions..."), ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda request: send(world.running.api_url, request), traffic))
    lifecycle.answers += answers
    served = Counter(
        str(answer.body["model"]["version"]) if answer.body.get("model") else "fallback"
        for answer in answers
        if answer.status == 200
    )
    _step(lifecycle, title.lower(), ", ".join(f"{version}: {n}" for version, n in sorted(served.items())))
    return answers


def _expect_controller(world: LocalWorld, lifecycle: Lifecycle, action: str, meaning: str) -> None:
    result = world.run_schedule(CONTROLLER_SOURCE)
    lifecycle.controller_runs += 1
    decision = next(d for d in result["decisions"] if d["use_case"] == REFERENCE_USE_CASE)
    if decision["action"] != action:
        lifecycle.problems.append(f"the controller chose {decision['action']}, not {action}: {decision['reasons']}")
    _step(lifecycle, f"controller: {decision['action']}", f"{meaning}; {'; '.join(decision['reasons'])}")


def _traffic(world: LocalWorld) -> TrafficPolicy:
    return TrafficPolicy.model_validate(world.call("GET", f"/v1/use-cases/{REFERENCE_USE_CASE}/traffic", "ml_engineer"))


def _step(lifecycle: Lifecycle, step: str, what: str) -> None:
    lifecycle.timeline.append((step, what))
