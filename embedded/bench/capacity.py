"""`leaim capacity`: what a target rate of governed decisions (10,000/s by default) needs on AWS and Modal.

The figures come from three places, and the page keeps them apart:

- measured in this run: the governed decision in process, as the decision API function runs it (the real
  `DecisionApi` and its adapters, built from the function's environment on the local stack, in a process of
  their own, the model called in that process): the process's CPU time per decision with the model call's
  own CPU time taken out (and shown apart), the deciding thread's beside it, every DynamoDB call it makes
  with the items it reads and writes sized as DynamoDB bills them, and the audit events its accepted bundle
  holds; and the inference runtime's batch
  throughput (`ModelRuntime.score_many`, one single-row request per item, as `@modal.batched` hands them
  over) for the reference model's family and boosted trees of several sizes;
- published: prices, quotas and latencies of Lambda, API Gateway, DynamoDB and Modal, each with its source
  and the date it was read (`embedded.bench.sizing.PUBLISHED`);
- chosen: what neither measures nor publishes (how busy a container may run, how fast a Lambda vCPU is
  against this machine's core...), each with its reason (`embedded.bench.sizing.CHOSEN`).

`embedded.bench.sizing` turns them into what the target rate needs: Lambda concurrency, Modal containers per
model size and GPU type, DynamoDB request units and partitions, audit writer shards, the PostgreSQL write
rate and the cost per million decisions; the page sets them beside the paper's "8-10 inference nodes" for
10,000 requests/s at 20 ms. The deployment sized (each function's memory) is read from `template.yaml`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import numpy as np

from embedded.bench.models import bench_models
from embedded.bench.report import DOCS_DIRECTORY, BenchmarkPage, Column, FigureTable, describe_machine, publish
from embedded.bench.sizing import (
    CHOSEN,
    DECISION_FUNCTION,
    DEFAULT_WRITER_EVENTS_PER_S,
    LAMBDA_CONCURRENCY_QUOTA,
    MODAL_GPU_PRICES,
    PAPER_INFERENCE_MS,
    PAPER_NODES,
    PAPER_RATE,
    PUBLISHED,
    TARGET_RATE,
    UTILIZATION,
    WRITER_FUNCTION,
    BatchRate,
    Deployment,
    Measured,
    StoreUse,
    item_bytes,
    plan_capacity,
    read_units,
    write_units,
)
from embedded.demos.traffic import percentile
from embedded.emulation.template import DYNAMODB_TABLE, DynamoDBEvent, load_template
from embedded.synthetic import CardFraudGenerator
from embedded.world import REFERENCE_USE_CASE, TEMPLATE, LocalWorld, WorldOptions
from gpu_workers import settings as worker_settings
from gpu_workers.artifacts import store_manifest
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.inference.signatures import load_public_keys
from gpu_workers.training.trainer import train
from leaim.bootstrap.decisions import build_decision_api, build_decisions
from leaim.data.features import feature_matrix
from leaim.exceptions import ConfigurationError
from leaim.governance.access.gate import Invocation

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from boto3.session import Session
    from botocore.hooks import BaseEventHooks
    from rich.console import Console

    from contracts.inference.v1 import InferenceRequest, InferenceResult
    from contracts.model.v1 import SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult
    from embedded.bench.models import ModelBench
    from embedded.bench.sizing import CapacityPlan
    from leaim.orchestration.api import DecisionApi

PAGE_NAME = "capacity"
# The run's own stack: moto keeps resources for the life of the process, and other worlds may run in it.
STACK_NAME = "leaim-bench-capacity"
WARMUP = 50
TRAINING_ROWS = 10_000


# --- measuring ---------------------------------------------------------------------------------------------


class StoreMeter:
    """Counts one thread's DynamoDB calls and sizes the items they read and write, as DynamoDB bills them.

    Attached to a boto3 session's events, so every client built from the session afterwards reports to it.
    `tables` maps physical table names to the template's logical ids.
    """

    def __init__(self, tables: Mapping[str, str]) -> None:
        self._tables = tables
        self._thread = threading.get_ident()
        self._params: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()
        self.write_units: defaultdict[str, float] = defaultdict(float)
        self.read_units: defaultdict[str, float] = defaultdict(float)
        self.written_bytes: defaultdict[str, float] = defaultdict(float)
        self.events = 0
        self.unpriced: set[str] = set()
        self.counting = False

    def attach(self, events: BaseEventHooks) -> None:
        """Listen to every DynamoDB call made through clients of these events."""
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    def detach(self, events: BaseEventHooks) -> None:
        """Stop listening."""
        events.unregister("before-parameter-build.dynamodb", self._before)
        events.unregister("after-call.dynamodb", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        if self.counting and threading.get_ident() == self._thread:
            self._params = dict(params)

    def _after(self, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
        if not self.counting or threading.get_ident() != self._thread:
            return
        operation, params = str(model.name), self._params
        self.calls[operation] += 1
        if operation == "GetItem":
            size = item_bytes(parsed.get("Item") or {})
            self.read_units[self._table(params)] += read_units(size, consistent=bool(params.get("ConsistentRead")))
        elif operation == "PutItem":
            self._written(self._table(params), params["Item"], transactional=False)
        elif operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                [(kind, body)] = action.items()
                self._written(self._table(body), body.get("Item") or body.get("Key") or {}, transactional=True)
                if kind != "Put":
                    self.unpriced.add(f"TransactWriteItems {kind} (sized by its key)")
        else:
            self.unpriced.add(operation)

    def _table(self, params: Mapping[str, Any]) -> str:
        name = str(params["TableName"])
        return self._tables.get(name, name)

    def _written(self, table: str, item: Mapping[str, Any], *, transactional: bool) -> None:
        size = item_bytes(item)
        self.written_bytes[table] += size
        self.write_units[table] += write_units(size, transactional=transactional)
        events = item.get("events", {}).get("S")
        if events is not None:
            self.events += len(json.loads(events))

    def use(self, decisions: int) -> StoreUse:
        """The use per decision over `decisions` decisions."""
        return StoreUse(
            calls={name: count / decisions for name, count in sorted(self.calls.items())},
            write_units={name: units / decisions for name, units in sorted(self.write_units.items())},
            read_units={name: units / decisions for name, units in sorted(self.read_units.items())},
            events_per_decision=self.events / decisions,
            written_bytes={name: size / decisions for name, size in sorted(self.written_bytes.items())},
            unpriced=tuple(sorted(self.unpriced)),
        )


class MeteredWorkers:
    """The workers called in this process, with no transport: each score's CPU (of the calling thread) and wall
    time are added up, so that a decision's CPU can be told from its model call's."""

    def __init__(self, runtime: ModelRuntime, artifact_root: Path) -> None:
        self._runtime = runtime
        self._artifact_root = artifact_root
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score one request in this thread, as the worker would, adding its CPU and wall time to the totals."""
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return self._runtime.score_many([request])[0]
        finally:
            self.cpu_s += time.thread_time() - cpu
            self.wall_s += time.perf_counter() - wall

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train in this process, into the same artifact store."""
        return train(request, self._artifact_root, worker="in-process")

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        """Store a manifest beside its artifact, as a worker host would."""
        store_manifest(signed, self._artifact_root)


@dataclass(frozen=True, slots=True)
class DecisionCost:
    """Per governed decision, in milliseconds: the deciding thread's CPU and the whole measuring process's, each
    without the model call's; the model call's CPU and wall time; the wall time; the DynamoDB use; and how
    many fell back without the model."""

    thread_cpu_ms: list[float]
    model_cpu_ms: list[float]
    model_wall_ms: list[float]
    process_cpu_ms: list[float]
    wall_ms: list[float]
    store: StoreUse
    fallbacks: int

    @property
    def decisions(self) -> int:
        """How many were measured."""
        return len(self.wall_ms)


@dataclass(frozen=True, slots=True)
class _Probe:
    """What the measuring process needs: the model to load, the requests to decide, the table names."""

    artifact_root: str
    artifact_digest: str
    public_key: str
    api_key: str
    bodies: list[str]
    warmup: int
    tables: dict[str, str]


def measure_decisions(world: LocalWorld, artifact_digest: str, decisions: int) -> DecisionCost:
    """Time `decisions` governed decisions, after a warm-up, in a process of their own with the decision API
    function's environment, as its sandbox would run them, the model called in that process.

    In a process of its own, its CPU time is the decision's alone: moto, the gateway and the stack's pollers
    run in this one.
    """
    generator = CardFraudGenerator(world.manifest, seed=world.options.seed + 3)
    cards = generator.cards(200)
    world.seed(cards)
    probe = _Probe(
        artifact_root=str(world.state_dir / "artifacts"),
        artifact_digest=artifact_digest,
        public_key=world.signer.public_key_b64,
        api_key=world.api_keys["decision_client"],
        bodies=[
            json.dumps({"request_id": f"capacity-{world.run_id}-{index}", "inputs": transaction.inputs})
            for index, transaction in enumerate(generator.transactions(decisions + WARMUP, cards))
        ],
        warmup=WARMUP,
        tables={world.running.table_name(logical): logical for logical in _table_ids()},
    )
    with tempfile.TemporaryDirectory(prefix="leaim-capacity-probe-") as directory:
        probe_path, cost_path = Path(directory) / "probe.json", Path(directory) / "cost.json"
        probe_path.write_text(json.dumps(asdict(probe)), encoding="utf-8")
        finished = subprocess.run(
            [sys.executable, "-m", __name__, str(probe_path), str(cost_path)],
            env=world.running.function_environment(DECISION_FUNCTION),
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"the measuring process failed: {finished.stderr.strip()[-2_000:]}")
        document = json.loads(cost_path.read_text(encoding="utf-8"))
    return DecisionCost(**{**document, "store": StoreUse(**document["store"])})


def _measure(probe: _Probe) -> DecisionCost:
    """In the measuring process: build the decision API as its function does, with the model in process, and
    time each decision, counting its DynamoDB calls."""
    meter = StoreMeter(probe.tables)
    # The decision service's clients are built from the default session: its events reach every one of them.
    boto3.setup_default_session()
    meter.attach(cast("Session", boto3.DEFAULT_SESSION).events)
    runtime = ModelRuntime.load(Path(probe.artifact_root), probe.artifact_digest, load_public_keys([probe.public_key]))
    workers = MeteredWorkers(runtime, Path(probe.artifact_root))
    api = build_decision_api(build_decisions("decision-api", workers=workers), source=DECISION_FUNCTION)
    headers = {"x-api-key": probe.api_key, "content-type": "application/json"}
    times = _DecisionTimes()
    for index, body in enumerate(probe.bodies):
        meter.counting = index >= probe.warmup
        times.time(api, workers, body.encode(), headers, measured=meter.counting)
    return times.result(meter.use(len(probe.bodies) - probe.warmup))


@dataclass
class _DecisionTimes:
    thread_cpu_ms: list[float] = field(default_factory=list)
    model_cpu_ms: list[float] = field(default_factory=list)
    model_wall_ms: list[float] = field(default_factory=list)
    process_cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    fallbacks: int = 0

    def time(
        self, api: DecisionApi, workers: MeteredWorkers, body: bytes, headers: dict[str, str], *, measured: bool
    ) -> None:
        model_cpu, model_wall = workers.cpu_s, workers.wall_s
        thread, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
        answer = api.create(REFERENCE_USE_CASE, body, Invocation(uuid.uuid4().hex, headers, 10_000.0))
        wall_s, thread_s, process_s = (
            time.perf_counter() - wall,
            time.thread_time() - thread,
            time.process_time() - process,
        )
        if answer.status != 200:
            raise RuntimeError(f"a governed decision failed: {answer.status} {answer.body}")
        if not measured:
            return
        model_cpu_s, model_wall_s = workers.cpu_s - model_cpu, workers.wall_s - model_wall
        self.thread_cpu_ms.append((thread_s - model_cpu_s) * 1000)
        self.model_cpu_ms.append(model_cpu_s * 1000)
        self.model_wall_ms.append(model_wall_s * 1000)
        self.process_cpu_ms.append((process_s - model_cpu_s) * 1000)
        self.wall_ms.append(wall_s * 1000)
        self.fallbacks += bool(answer.body["fallback"])

    def result(self, store: StoreUse) -> DecisionCost:
        return DecisionCost(
            self.thread_cpu_ms,
            self.model_cpu_ms,
            self.model_wall_ms,
            self.process_cpu_ms,
            self.wall_ms,
            store,
            self.fallbacks,
        )


def _table_ids() -> list[str]:
    return [
        logical for logical, resource in load_template(TEMPLATE).resources.items() if resource.type == DYNAMODB_TABLE
    ]


def measure_batches(world: LocalWorld, rows: int, tree_counts: Sequence[int]) -> ModelBench:
    """Train the reference family and boosted trees of `tree_counts` on `rows` generated rows and time their batches."""
    generator = CardFraudGenerator(world.manifest, seed=world.options.seed + 5)
    transactions = generator.transactions(rows, generator.cards(max(rows // 10, 100)))
    features = np.asarray(feature_matrix(world.manifest, [(t.inputs, t.online) for t in transactions]))
    labels = np.asarray([t.label for t in transactions], dtype=np.int64)
    sizes = sorted({1, 8, worker_settings.MAX_BATCH_SIZE})
    return bench_models(
        features,
        labels,
        world.manifest.feature_names,
        tree_counts=tree_counts,
        batch_sizes=sizes,
        load_repetitions=1,
    )


def template_deployment(rate: float, writer_events_per_s: float) -> Deployment:
    """The deployment `template.yaml` declares (the functions' memory, the audit writer's stream batch size),
    sized for `rate` with the writer draining `writer_events_per_s`."""
    functions = load_template(TEMPLATE).functions
    missing = [name for name in (DECISION_FUNCTION, WRITER_FUNCTION) if name not in functions]
    if missing:
        raise ConfigurationError(f"{TEMPLATE.name} declares no {', '.join(missing)}")
    writer = functions[WRITER_FUNCTION]
    streams = [event for event in writer.events if isinstance(event, DynamoDBEvent)]
    if not streams:
        raise ConfigurationError(f"{WRITER_FUNCTION} in {TEMPLATE.name} has no DynamoDB stream event")
    return Deployment(
        rate=rate,
        decision_memory_mb=functions[DECISION_FUNCTION].memory_mb,
        writer_memory_mb=writer.memory_mb,
        writer_events_per_s=writer_events_per_s,
        writer_batch_size=streams[0].batch_size,
    )


def run_capacity_bench(
    console: Console,
    *,
    decisions: int,
    rows: int,
    tree_counts: Sequence[int],
    rate: float = TARGET_RATE,
    writer_events_per_s: float = DEFAULT_WRITER_EVENTS_PER_S,
    training_rows: int = TRAINING_ROWS,
    docs_dir: Path | None = DOCS_DIRECTORY,
) -> int:
    """Measure, size for `rate`, print the tables and write `capacity.md` into `docs_dir` (nothing when None).

    `decisions` governed decisions are timed in process on a model trained on `training_rows` transactions;
    batch throughput is timed on models trained on `rows` rows (logistic regression and boosted trees of
    `tree_counts`). Returns the exit status.
    """
    if rate <= 0 or writer_events_per_s <= 0:
        raise ConfigurationError(
            f"the rate and the writer's events/s must be positive, not {rate:g} and {writer_events_per_s:g}"
        )
    deployment = template_deployment(rate, writer_events_per_s)
    started_at = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="leaim-capacity-") as state,
        LocalWorld(WorldOptions(state_dir=Path(state), stack_name=STACK_NAME, run_schedules=False)) as world,
    ):
        with console.status("Training the reference model..."):
            trained = world.train(rows=training_rows)
        with console.status(f"{decisions:,} governed decisions in process..."):
            cost = measure_decisions(world, trained.artifact_digest, decisions)
        with console.status("Training and timing batches of every model size..."):
            models = measure_batches(world, rows, tree_counts)
    reference = models.trained[0].label
    measured = Measured(
        decision_cpu_ms=statistics.fmean(cost.process_cpu_ms),
        store=cost.store,
        batch_rates=[
            BatchRate(figure.label, _artifact_bytes(models, figure.label), figure.batch_size, figure.rows_per_s)
            for figure in models.throughput
        ],
        reference_model=reference,
    )
    plan = plan_capacity(measured, deployment)
    page = _page(
        cost,
        measured,
        plan,
        models,
        started_at,
        command=_command(decisions, rows, tree_counts, rate, writer_events_per_s),
    )
    publish(console, page, docs_dir)
    return 0


def _artifact_bytes(models: ModelBench, label: str) -> int:
    return next(model.artifact_bytes for model in models.trained if model.label == label)


def _command(decisions: int, rows: int, tree_counts: Sequence[int], rate: float, writer_events_per_s: float) -> str:
    trees = ",".join(map(str, tree_counts))
    return (
        f"leaim capacity --decisions {decisions} --rows {rows} --tree-counts {trees} --rate {rate:g} "
        f"--writer-events-per-s {writer_events_per_s:g}"
    )


# --- the page -------------------------------------------------------------------------------------------


def _page(
    cost: DecisionCost,
    measured: Measured,
    plan: CapacityPlan,
    models: ModelBench,
    started_at: datetime,
    *,
    command: str,
) -> BenchmarkPage:
    rate = plan.deployment.rate
    return BenchmarkPage(
        name=PAGE_NAME,
        title=f"Capacity: {rate:,.0f} governed decisions per second",
        summary=(
            f"What {rate:,.0f} governed decisions per second need on AWS and Modal, from figures measured in this "
            "run, figures published by AWS and Modal (each with its source and the date it was read) and a few "
            "chosen ones (each with its reason). Measured: the governed decision in process as the decision API "
            "function runs it (the real `DecisionApi` with its real adapters, built from the function's environment "
            "against the local stack, the model called in process), its CPU time and its DynamoDB calls; and the "
            "inference runtime's batch throughput on "
            "the reference model's family and on boosted trees of several sizes. The deployment (each "
            "function's memory, the worker's batch size and GPU) is read from `template.yaml` and the worker "
            "settings. Nothing here was run on AWS or Modal: the sizes below are arithmetic on these figures."
        ),
        command=command,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(models.provider),
        tables=[
            _decision_table(cost),
            _store_table(measured.store),
            _batch_table(measured),
            _needs_table(plan),
            _containers_table(plan),
            _cost_table(plan),
            _published_table(),
            _chosen_table(),
        ],
        findings=_findings(cost, measured, plan),
    )


def _decision_table(cost: DecisionCost) -> FigureTable:
    def row(name: str, samples: list[float], note: str) -> tuple[str, ...]:
        return (
            name,
            f"{statistics.fmean(samples):.3f}",
            f"{percentile(samples, 0.5):.3f}",
            f"{percentile(samples, 0.99):.3f}",
            note,
        )

    return FigureTable(
        title=f"Measured: the governed decision in process, {cost.decisions:,} decisions (milliseconds)",
        columns=(
            Column("figure", figures=False),
            Column("mean"),
            Column("p50"),
            Column("p99"),
            Column("what", figures=False),
        ),
        rows=[
            row(
                "CPU of the measuring process, model call excluded",
                cost.process_cpu_ms,
                "`time.process_time`: every thread of the process that decides; sizes Lambda",
            ),
            row(
                "CPU of the deciding thread, model call excluded",
                cost.thread_cpu_ms,
                "`time.thread_time`: the request's own thread",
            ),
            row("CPU of the model call", cost.model_cpu_ms, "onnxruntime batch-1 scoring, in the deciding thread"),
            row("wall time of the model call", cost.model_wall_ms, "the model alone, as a worker would spend it"),
            row("wall time of the decision", cost.wall_ms, "its DynamoDB calls go over loopback to moto"),
        ],
        note=(
            "The decisions run in a process of their own with the decision API function's environment, as its "
            "sandbox runs them, the model called in that process: moto, the gateway and the local stack's "
            f"pollers run in another, so the process's CPU time is the decision's. {cost.fallbacks} of the "
            "decisions fell back without the model."
        ),
    )


def _store_table(store: StoreUse) -> FigureTable:
    rows = [(f"calls: {name}", f"{count:.2f}") for name, count in store.calls.items()]
    rows += [(f"bytes written: {table}", f"{size:,.0f}") for table, size in store.written_bytes.items()]
    rows += [(f"write request units: {table}", f"{units:.2f}") for table, units in store.write_units.items()]
    rows += [(f"read request units: {table}", f"{units:.2f}") for table, units in store.read_units.items()]
    rows.append(("audit events in the accepted bundles", f"{store.events_per_decision:.2f}"))
    return FigureTable(
        title="Measured: DynamoDB per governed decision",
        columns=(Column("figure", figures=False), Column("per decision")),
        rows=rows,
        note=(
            "Every DynamoDB call of the measured decisions, counted as the client made it; each item read or "
            "written sized as DynamoDB bills it (1 KB write units, 4 KB read units, halved for an eventually "
            "consistent read, doubled for each item of a transaction)."
        ),
    )


def _batch_table(measured: Measured) -> FigureTable:
    return FigureTable(
        title="Measured: batch throughput of the inference runtime on this CPU",
        columns=(Column("model", figures=False), Column("artifact bytes"), Column("batch"), Column("rows/s")),
        rows=[
            (figure.model, f"{figure.artifact_bytes:,}", str(figure.batch_size), f"{figure.rows_per_s:,.0f}")
            for figure in measured.batch_rates
        ],
        note=(
            f"`ModelRuntime.score_many` with one single-row request per item, as `@modal.batched` delivers them; "
            f"the reference model's family is {measured.reference_model}."
        ),
    )


def _needs_table(plan: CapacityPlan) -> FigureTable:
    deployment, writer = plan.deployment, plan.writer
    rows: list[tuple[str, str, str]] = []
    for sizing in plan.lambdas:
        rows.append(
            (
                f"{DECISION_FUNCTION} concurrency, {sizing.label}",
                f"{sizing.concurrency:,.0f}",
                f"rate x {sizing.duration_ms:.1f} ms (CPU {sizing.cpu_ms:.1f} at {deployment.decision_memory_mb} MB, "
                f"DynamoDB {sizing.store_ms:.1f}, Modal call {sizing.modal_ms:.1f}, "
                f"inference {sizing.inference_ms:.2f}); {sizing.seconds_to_scale:.0f} s to scale from zero",
            )
        )
    for table, units in plan.write_units_per_s.items():
        rows.append((f"DynamoDB write units/s: {table}", f"{units:,.0f}", _partitions(plan.partitions[table])))
    for table, units in plan.read_units_per_s.items():
        rows.append((f"DynamoDB read units/s: {table}", f"{units:,.0f}", _partitions(plan.partitions[table])))
    rows += [
        ("audit events/s into the writer", f"{writer.events_per_s:,.0f}", "rate x events per decision"),
        (
            f"{WRITER_FUNCTION} concurrent invocations",
            f"{writer.invocations:,}",
            f"at {deployment.writer_events_per_s:,.0f} events/s each (--writer-events-per-s); "
            f"{writer.write_partitions} stream shards, so parallelization factor {writer.parallelization_factor}",
        ),
        ("PostgreSQL audit events written/s", f"{plan.postgres_events_per_s:,.0f}", "rate x events per decision"),
        ("PostgreSQL rows written/s", f"{plan.postgres_rows_per_s:,.0f}", "the events and one decision row each"),
    ]
    return FigureTable(
        title=f"Needed for {deployment.rate:,.0f} decisions/s",
        columns=(Column("what", figures=False), Column("figure"), Column("from", figures=False)),
        rows=rows,
        note=(
            "Lambda concurrency by Little's law: arrivals per second times the function's duration. The "
            "partitions are the least DynamoDB needs for these units per second; the writer's shards are the "
            "accepted table's."
        ),
    )


def _partitions(count: int) -> str:
    return f"{count:,} partition{'' if count == 1 else 's'} at least"


def _containers_table(plan: CapacityPlan) -> FigureTable:
    rate, gpus = plan.deployment.rate, list(MODAL_GPU_PRICES)
    return FigureTable(
        title=f"Modal containers for {rate:,.0f} decisions/s, and their GPU cost per million decisions (USD)",
        columns=(
            Column("model", figures=False),
            Column("rows/s a container"),
            Column("containers"),
            *(Column(gpu) for gpu in gpus),
        ),
        rows=[
            (
                sizing.model + ("" if sizing.measured else " (assumed)"),
                f"{sizing.rows_per_s:,.0f}",
                f"{sizing.containers:,}",
                *(f"{sizing.cost_per_million(gpu, rate):.3f}" for gpu in gpus),
            )
            for sizing in plan.containers
        ],
        note=(
            f"Measured rows: this CPU's rate at batch {plan.deployment.max_batch_size} (the worker's "
            f"`MAX_BATCH_SIZE`) taken as a container's on every GPU type (see the chosen figures); each container "
            f"kept at most {UTILIZATION.value:.0%} busy. The paper's model takes {PAPER_INFERENCE_MS:g} ms a call on "
            "whatever GPU; only the price changes with the type."
        ),
    )


def _cost_table(plan: CapacityPlan) -> FigureTable:
    rows = [(what, f"{cost:.3f}") for what, cost in plan.costs]
    rows.append(("total", f"{plan.cost_per_million:.3f}"))
    return FigureTable(
        title="Cost per million decisions (USD)",
        columns=(Column("part", figures=False), Column("USD per million")),
        rows=rows,
        note=(
            "At list prices, without free tiers or volume tiers (at this rate a month crosses several of them, "
            "downwards). PostgreSQL is an instance priced by the hour, not per decision, and is left out; so are "
            "storage, logs and data transfer."
        ),
    )


def _published_table() -> FigureTable:
    return FigureTable(
        title="Published figures used",
        columns=(
            Column("figure", figures=False),
            Column("value"),
            Column("unit", figures=False),
            Column("source", figures=False),
            Column("read on", figures=False),
        ),
        rows=[
            (figure.what, f"{figure.value:.10g}", figure.unit, figure.source, figure.read_on) for figure in PUBLISHED
        ],
    )


def _chosen_table() -> FigureTable:
    return FigureTable(
        title="Chosen figures used",
        columns=(
            Column("figure", figures=False),
            Column("value"),
            Column("unit", figures=False),
            Column("why", figures=False),
        ),
        rows=[(figure.what, f"{figure.value:g}", figure.unit, figure.why) for figure in CHOSEN],
    )


def main(arguments: Sequence[str]) -> None:
    """The measuring process: read the probe from the first path, write the decisions' cost to the second."""
    probe_path, cost_path = (Path(argument) for argument in arguments)
    cost = _measure(_Probe(**json.loads(probe_path.read_text(encoding="utf-8"))))
    cost_path.write_text(json.dumps(asdict(cost)), encoding="utf-8")


def _findings(cost: DecisionCost, measured: Measured, plan: CapacityPlan) -> list[str]:
    low, high = PAPER_NODES
    in_flight = PAPER_RATE * PAPER_INFERENCE_MS / 1000
    batched = next(sizing for sizing in plan.containers if not sizing.measured)
    reference = next(sizing for sizing in plan.containers if sizing.model == measured.reference_model)
    findings = [
        (
            f"The paper's {low}-{high} inference nodes for {PAPER_RATE:,.0f} requests/s at {PAPER_INFERENCE_MS:g} ms: "
            f"{PAPER_RATE * PAPER_INFERENCE_MS / 1000:,.0f} requests are in inference at any time (Little's law), so "
            f"each node must serve {in_flight / high:.0f}-{in_flight / low:.0f} of them per {PAPER_INFERENCE_MS:g} ms "
            f"call, {PAPER_RATE / high:,.0f}-{PAPER_RATE / low:,.0f} requests/s a node. With Modal batching "
            f"{plan.deployment.max_batch_size} requests a call at most {UTILIZATION.value:.0%} busy, "
            f"{batched.containers} containers do; one request a call would need "
            f"{plan.containers[-1].containers:,}."
        ),
        (
            f"The reference model measured here ({measured.reference_model}) needs {reference.containers} "
            f"container{'' if reference.containers == 1 else 's'} of {reference.rows_per_s:,.0f} rows/s: its "
            "inference is not what sizes the path; "
            f"the decision function's {plan.lambdas[0].concurrency:,.0f} concurrent environments, against a "
            f"new account's quota of {LAMBDA_CONCURRENCY_QUOTA.value:,.0f}, are."
        ),
        (
            f"DynamoDB round trips per decision: {measured.store.round_trips:.2f} "
            f"({', '.join(f'{name} {count:.2f}' for name, count in measured.store.calls.items())})."
        ),
    ]
    if measured.store.unpriced:
        findings.append(f"Counted but not priced: {', '.join(measured.store.unpriced)}.")
    if cost.fallbacks:
        findings.append(f"{cost.fallbacks} measured decisions fell back without the model; their CPU is counted.")
    return findings


if __name__ == "__main__":
    main(sys.argv[1:])
