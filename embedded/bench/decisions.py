"""`leaim bench`: the governed decision path measured against its floors, in one run on the reference model.

The floors: raw onnxruntime batch-1 scoring (the model) and a bare Chalice handler that only parses the
request into the same contract (the framework). Measured against them: the full governed decision in
process (validation, DynamoDB enrichment over loopback, routing, rules, telemetry, acceptance into the
accepted store) with its store round trips alone, and decisions over HTTP through the local gateway at several
concurrency levels. The API function's cold start in fresh processes is measured against a handler that imports
only boto3, pydantic, Powertools and Chalice, and against one that imports every third-party module the
function loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from chalice.app import Chalice, Response

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionRequest, DecisionResponse
from contracts.inference.v1 import InferenceRequest, InferenceResult
from embedded.bench.report import (
    DOCS_DIRECTORY,
    BenchmarkPage,
    Column,
    FigureTable,
    Target,
    describe_machine,
    publish,
    ratio,
)
from embedded.clients.http import send
from embedded.demos.traffic import decision_request, percentile
from embedded.emulation.context import FunctionConfiguration
from embedded.synthetic import CardFraudGenerator
from embedded.world import REFERENCE_USE_CASE, LocalWorld, WorldOptions
from gpu_workers.artifacts import store_manifest
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.inference.signatures import load_public_keys
from gpu_workers.training.trainer import train
from leaim.adapters.dynamodb import DynamoFeatureStore
from leaim.adapters.dynamodb_audit import DynamoAuditLog, DynamoDecisions
from leaim.bootstrap.decisions import build_decision_api, build_decisions
from leaim.data.features import feature_vector, merge_online
from leaim.data.privacy import entity_id
from leaim.governance.access.gate import Invocation

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from rich.console import Console

    from contracts.model.v1 import ModelManifest, SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult

# The benchmark's own stack: moto keeps resources for the life of the process, and other worlds may run in it.
STACK_NAME = "leaim-bench-decisions"
# The function whose decision path is measured.
FUNCTION = "DecisionApiFunction"
TRAINING_ROWS = 10_000
CONCURRENCY = (1, 4, 16)
COLD_START_RUNS = 5
WARMUP = 50
TARGET_OVERHEAD_P50_MS = 1.0
TARGET_OVERHEAD_P99_MS = 3.0
TARGET_COLD_START_RATIO = 1.2
TARGET_STORE_ROUND_TRIPS = 2
# The modules a cold start should not pay for: the decision path scores on the workers.
HEAVY_MODULES = ("onnxruntime", "numpy", "sqlalchemy", "sqlmodel")
# The function builds its services at init, when its module is imported (before SnapStart's snapshot): the
# import of the modules it is made of is timed first, then the module's own import, which is the init.
COLD_START_SCRIPT = f"""
import importlib, json, sys, time
started = time.perf_counter()
import leaim.bootstrap.decisions, leaim.adapters.chalice, aws_lambda_powertools.metrics
imported = time.perf_counter()
importlib.import_module("functions.decision_api.app")
ready = time.perf_counter()
ours = {{"contracts", "embedded", "functions", "gpu_workers", "leaim"}}
frameworks = [
    name for name, module in list(sys.modules.items())
    if name.partition(".")[0] not in ours | set(sys.stdlib_module_names)
    and getattr(getattr(module, "__spec__", None), "name", None) == name
]
print(json.dumps({{"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000,
                  "heavy": [name for name in {HEAVY_MODULES!r} if name in sys.modules], "frameworks": frameworks}}))
"""
# The floor of a cold start: a handler made of the frameworks alone (boto3, pydantic, Powertools, Chalice): one
# request model (pydantic builds its validators when the class is made), and the one DynamoDB client any handler
# of a table builds at init.
FLOOR_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import boto3
from aws_lambda_powertools import Logger, Metrics
from chalice.app import Chalice
from pydantic import BaseModel
imported = time.perf_counter()
class Request(BaseModel):
    request_id: str
    inputs: dict[str, float | int | str | bool]
Request.model_validate_json('{"request_id": "r", "inputs": {"amount": 1.5}}')
app = Chalice(app_name="leaim-bench-floor")
app.route("/v1/decisions/{id}", methods=["POST"])(lambda **path: {})
logger, metrics = Logger(service="floor"), Metrics(service="floor")
client = boto3.client("dynamodb")
ready = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000}))
"""
# The same, importing every third-party module the function loaded (names on stdin, in the order it loaded
# them): what the function's dependencies cost, before any of its own code.
FRAMEWORKS_SCRIPT = """
import importlib, json, sys, time
names = json.loads(sys.stdin.read())
started = time.perf_counter()
for name in names:
    importlib.import_module(name)
imported = time.perf_counter()
import boto3
from aws_lambda_powertools import Logger, Metrics
from chalice.app import Chalice
from pydantic import BaseModel
class Request(BaseModel):
    request_id: str
    inputs: dict[str, float | int | str | bool]
Request.model_validate_json('{"request_id": "r", "inputs": {"amount": 1.5}}')
app = Chalice(app_name="leaim-bench-floor")
app.route("/v1/decisions/{id}", methods=["POST"])(lambda **path: {})
logger, metrics = Logger(service="floor"), Metrics(service="floor")
client = boto3.client("dynamodb")
ready = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000}))
"""


class InProcessWorkerClient:
    """The worker code called in this process: the raw model cost, without any transport."""

    def __init__(self, runtime: ModelRuntime, artifact_root: Path) -> None:
        self._runtime = runtime
        self._artifact_root = artifact_root

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score one request."""
        return self._runtime.score_many([request])[0]

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train in this process, into the same artifact store."""
        return train(request, self._artifact_root, worker="in-process")

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        """Store a manifest in the same artifact store, as a worker host would."""
        store_manifest(signed, self._artifact_root)


def _timed(call: Callable[[], object], iterations: int, warmup: int = WARMUP) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def _timed_decisions(decide: Callable[[], bool], iterations: int, warmup: int = WARMUP) -> tuple[list[float], int]:
    """As `_timed`, for calls that say whether the model scored: the samples of those that did, and how many
    fell back. A fallback skips the model call, so its time would flatter the governed path."""
    for _ in range(warmup):
        decide()
    samples, fallbacks = [], 0
    for _ in range(iterations):
        started = time.perf_counter()
        scored = decide()
        elapsed = (time.perf_counter() - started) * 1000.0
        if scored:
            samples.append(elapsed)
        else:
            fallbacks += 1
    if not samples:
        raise RuntimeError(f"all {iterations} governed decisions fell back: none was scored")
    return samples, fallbacks


def _proxy_event(path: str, resource: str, parameters: dict[str, str], body: str, api_key: str) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", "x-api-key": api_key},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "path": "/v1" + path,
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _floor_app() -> Chalice:
    """The framework floor: route, parse the same JSON into the same contract, answer."""
    app = Chalice(app_name="leaim-bench-floor")

    @app.route("/v1/decisions/{id}", methods=["POST"])
    def parse_only(**path: str) -> Response:
        current = app.current_request
        if current is None:
            raise RuntimeError("a route ran outside of a request")
        request = DecisionRequest.model_validate(json.loads(current.raw_body))
        return Response(body=json.dumps({"request_id": request.request_id}), status_code=200)

    return app


@dataclass(frozen=True, slots=True)
class InProcess:
    """The in-process measurements: each row's samples, the raw model's and the scored governed decisions'
    among them, how many governed decisions fell back, and the onnxruntime provider that scored."""

    rows: list[tuple[str, list[float], str]]
    raw: list[float]
    governed: list[float]
    fallbacks: int
    provider: str
    # The samples of each store round trip the decision makes, measured alone.
    stores: list[list[float]]
    # Round trips per governed decision, by store.
    round_trips: dict[str, float]


@dataclass(frozen=True, slots=True)
class ColdStart:
    """One fresh process: the time to import the handler's module, then to build what it serves with."""

    import_ms: float
    init_ms: float

    @property
    def total_ms(self) -> float:
        """Import and init."""
        return self.import_ms + self.init_ms


@dataclass(frozen=True, slots=True)
class ColdStarts:
    """The API function's cold starts, its floor's and its dependencies', run in turn, and what it loaded."""

    function: list[ColdStart]
    floor: list[ColdStart]
    frameworks: list[ColdStart]
    framework_modules: int
    heavy_loaded: list[str]


def run_bench(
    console: Console,
    *,
    iterations: int,
    http_requests: int,
    cold_starts: int = COLD_START_RUNS,
    training_rows: int = TRAINING_ROWS,
    docs_dir: Path | None = DOCS_DIRECTORY,
) -> int:
    """Run every measurement, print the tables and write `decisions.md` into `docs_dir` (nothing when None).

    `iterations` timed calls per in-process measurement, `http_requests` per concurrency level over HTTP,
    `cold_starts` fresh processes each for the API function and its framework floor, on a model trained
    on `training_rows` generated transactions. Returns the exit status.
    """
    started_at = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="leaim-bench-") as state,
        LocalWorld(WorldOptions(state_dir=Path(state), breaker_reset_s=10.0, stack_name=STACK_NAME)) as world,
    ):
        with console.status("Training the reference model..."):
            trained = world.train(rows=training_rows)
        generator = CardFraudGenerator(world.manifest, seed=11)
        cards = generator.cards(200)
        world.seed(cards)
        samples = generator.transactions(iterations + 100, cards)
        # The API function's code runs in this process, and in fresh ones, with the environment it has in its sandboxes.
        with _environment(world.running.function_environment(FUNCTION)):
            measured = _in_process(console, world, trained, samples, iterations)
            http_rows = _http(world, samples, world.api_keys["decision_client"], http_requests, console)
            cold = _cold_starts(console, cold_starts)
    page = BenchmarkPage(
        name="decisions",
        title="Decision path",
        summary=(
            "The governed decision path against its floors, in one run on the reference model trained on "
            f"{training_rows:,} generated transactions. The floors are raw onnxruntime batch-1 scoring (the model) "
            "and a bare Chalice handler that only parses the request into the same contract (the framework). "
            "Against them: the full governed decision in process (the real `DecisionApi` with its real adapters: "
            "API key lookup, validation, DynamoDB enrichment on moto over loopback, routing, the model called in "
            "process, rules, spans, the acceptance of the decision and its events in one DynamoDB transaction), with "
            "each of its store round trips alone; decisions over HTTP through the local gateway and the local "
            f"worker processes at concurrency {', '.join(map(str, CONCURRENCY))}; and the API function's cold start "
            "in fresh processes, against a handler made of boto3, pydantic, Powertools and Chalice alone."
        ),
        command=f"leaim bench --iterations {iterations} --http-requests {http_requests}",
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(measured.provider),
        tables=[
            _in_process_table(measured, iterations),
            _http_table(http_rows, measured.raw, http_requests),
            _cold_table(cold),
        ],
        targets=_targets(measured, cold),
        findings=[_fallback_finding(measured, iterations), _heavy_finding(cold)],
    )
    publish(console, page, docs_dir)
    return 0


@contextlib.contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with `variables` laid over it for the block, restored after it."""
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _in_process(
    console: Console, world: LocalWorld, trained: ModelManifest, samples: list[Any], iterations: int
) -> InProcess:
    """The raw model, the framework floor, the governed decision and its I/O parts, side by side."""
    rows: list[tuple[str, list[float], str]] = []
    manifest = world.manifest
    public_keys = load_public_keys([world.signer.public_key_b64])
    runtime = ModelRuntime.load(world.state_dir / "artifacts", trained.artifact_digest, public_keys)
    transaction = samples[0]
    row = feature_vector(manifest, transaction.inputs, merge_online(manifest, transaction.online))
    inference = InferenceRequest(
        request_id="bench",
        model_name=trained.model_name,
        model_version=trained.model_version,
        artifact_digest=trained.artifact_digest,
        feature_names=manifest.feature_names,
        rows=[row],
        deadline_unix_ms=2**62,
    )
    with console.status("Raw onnxruntime batch-1 scoring..."):
        raw = _timed(lambda: runtime.score_many([inference]), iterations)
    rows.append(("raw onnxruntime, batch 1", raw, "the model floor"))

    key = world.api_keys["decision_client"]
    body = json.dumps({"request_id": "floor", "inputs": transaction.inputs})
    event = _proxy_event(
        f"/decisions/{REFERENCE_USE_CASE}", "/v1/decisions/{id}", {"id": REFERENCE_USE_CASE}, body, key
    )
    floor_app = _floor_app()
    context = FunctionConfiguration(
        "BenchFloor", "bench-floor", "arn:aws:lambda:us-east-1:123456789012:function:bench-floor", 10, 1024
    ).new_context()
    with console.status("Bare Chalice parse-only handler..."):
        floor = _timed(lambda: floor_app(event, context), iterations)
    rows.append(("bare Chalice handler (parse only)", floor, "the framework floor"))

    # Every DynamoDB call the decision path makes, by table and operation: its store round trips.
    calls: Counter[tuple[str, str]] = Counter()
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    if session is None:
        raise RuntimeError("boto3 set up no default session")
    session.events.register(
        "provide-client-params.dynamodb",
        lambda params, event_name, **_: calls.update(
            [(table, event_name.rpartition(".")[2]) for table in _tables(params)]
        ),
    )
    api = build_decision_api(
        build_decisions("decision-api", workers=InProcessWorkerClient(runtime, world.state_dir / "artifacts")),
        source=FUNCTION,
    )
    bodies = iter(json.dumps({"request_id": f"gov-{i}", "inputs": s.inputs}).encode() for i, s in enumerate(samples))
    headers = {"x-api-key": key, "content-type": "application/json"}
    answered: list[DecisionResponse] = []

    def governed() -> bool:
        answer = api.create(REFERENCE_USE_CASE, next(bodies), Invocation(uuid.uuid4().hex, headers, 10_000.0))
        if answer.status != 200:
            raise RuntimeError(f"governed decision failed: {answer.status} {answer.body}")
        answered[:] = [DecisionResponse.model_validate(answer.body)]
        return not answer.body["fallback"]

    with console.status("Full governed decision in process..."):
        calls.clear()
        full, fallbacks = _timed_decisions(governed, iterations)
    decided = iterations + WARMUP
    accepted_table = world.running.table_name("AcceptedTable")
    round_trips = {
        "accepted store": sum(count for (table, _), count in calls.items() if table == accepted_table) / decided,
        "online features": sum(
            count for (table, _), count in calls.items() if table == world.running.table_name("FeaturesTable")
        )
        / decided,
    }
    rows.append(("governed decision, in process", full, "validate, enrich, score, rules, accept"))

    stores = _store_round_trips(console, world, answered[0], transaction.inputs, iterations)
    rows.extend(stores)
    return InProcess(rows, raw, full, fallbacks, runtime.providers[0], [row[1] for row in stores], round_trips)


def _tables(params: dict[str, Any]) -> set[str]:
    """The tables one DynamoDB call reaches: its own, or those of a transaction's or a batch's items."""
    if "TableName" in params:
        return {params["TableName"]}
    items = params.get("TransactItems", [])
    named = {request["TableName"] for item in items for request in item.values()}
    return named | set(params.get("RequestItems", {}))


def _store_round_trips(
    console: Console, world: LocalWorld, decision: DecisionResponse, inputs: dict[str, Any], iterations: int
) -> list[tuple[str, list[float], str]]:
    """Each DynamoDB round trip a decision makes, measured alone: the feature read, the request key read, the
    acceptance of a decision with two events."""
    accepted_table = world.running.table_name("AcceptedTable")
    features = DynamoFeatureStore(world.running.table_name("FeaturesTable"), boto3.client("dynamodb"))
    card = entity_id(world.manifest, inputs, world.pii_key())
    with console.status("Online feature lookup..."):
        lookup = _timed(lambda: features.get(REFERENCE_USE_CASE, card), iterations)
    rows = [("of which: features, DynamoDB GetItem", lookup, "enrichment, moto over loopback")]
    dynamodb = boto3.client("dynamodb")
    decisions = DynamoDecisions(accepted_table, dynamodb)
    misses = iter(range(10**9))
    with console.status("Request key read..."):
        reads = _timed(lambda: decisions.by_request(REFERENCE_USE_CASE, f"bench-miss-{next(misses)}"), iterations)
    rows.append(("of which: request key, DynamoDB GetItem", reads, "idempotency read, moto over loopback"))
    log = DynamoAuditLog(accepted_table, dynamodb, clock=time.time)
    sample = AuditEvent(
        event_id="bench",
        occurred_at=datetime.now(UTC),
        source=FUNCTION,
        action="decision.create",
        outcome="success",
        invocation_id="bench",
        trace_id=decision.trace_id,
        duration_ms=1.0,
    )
    stored = iter(range(10**9))

    def accept() -> None:
        index = next(stored)
        log.record_decision(
            decision.model_copy(update={"decision_id": f"bench-{index}", "request_id": f"bench-{index}"}),
            inputs,
            sample.model_copy(update={"event_id": f"bench-{index}"}),
            [sample.model_copy(update={"event_id": f"bench-w-{index}"})],
        )

    with console.status("Acceptance of a decision..."):
        commits = _timed(accept, iterations)
    rows.append(("of which: acceptance, DynamoDB TransactWriteItems", commits, "decision + 2 events, one transaction"))

    return rows


def _http(
    world: LocalWorld, samples: list[Any], key: str, requests: int, console: Console
) -> list[tuple[int, list[float], float]]:
    results = []
    api_url = world.running.api_url
    for concurrency in CONCURRENCY:
        traffic = [
            decision_request(REFERENCE_USE_CASE, f"http-{concurrency}-{i}", samples[i % len(samples)].inputs, key)
            for i in range(requests)
        ]
        with console.status(f"HTTP through the local gateway, concurrency {concurrency}..."):
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                answers = list(pool.map(lambda request: send(api_url, request), traffic))
            elapsed = time.perf_counter() - started
        failed = [a for a in answers if a.status != 200]
        if failed:
            raise RuntimeError(f"{len(failed)} HTTP decisions failed, first: {failed[0].status} {failed[0].body}")
        results.append((concurrency, [a.seconds * 1000.0 for a in answers], requests / elapsed))
    return results


def _cold_starts(console: Console, runs: int) -> ColdStarts:
    """`runs` fresh processes of the API function and as many of its framework floor, one of each in turn."""
    function: list[ColdStart] = []
    floor: list[ColdStart] = []
    frameworks: list[ColdStart] = []
    modules: list[str] = []
    heavy: set[str] = set()
    with console.status("API function cold start in fresh processes, and its floors..."):
        for _ in range(runs):
            measured = _fresh_process(COLD_START_SCRIPT, "")
            function.append(ColdStart(measured["import_ms"], measured["init_ms"]))
            modules = measured["frameworks"]
            heavy.update(measured["heavy"])
            bare = _fresh_process(FLOOR_SCRIPT, "")
            floor.append(ColdStart(bare["import_ms"], bare["init_ms"]))
            same = _fresh_process(FRAMEWORKS_SCRIPT, json.dumps(modules))
            frameworks.append(ColdStart(same["import_ms"], same["init_ms"]))
    return ColdStarts(function, floor, frameworks, len(modules), sorted(heavy))


def _fresh_process(script: str, stdin: str) -> dict[str, Any]:
    """Run `script` in a new interpreter with this environment; its last line of output, as JSON."""
    output = subprocess.run(
        [sys.executable, "-c", script], input=stdin, env=dict(os.environ), capture_output=True, text=True, check=True
    )
    answer: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return answer


def _in_process_table(measured: InProcess, iterations: int) -> FigureTable:
    raw_p50 = percentile(measured.raw, 0.5)
    return FigureTable(
        title=f"In process, {iterations:,} calls each (milliseconds)",
        columns=(
            Column("measurement", figures=False),
            Column("p50 ms"),
            Column("p99 ms"),
            Column("x raw p50"),
            Column("what it is", figures=False),
        ),
        rows=[
            (
                name,
                f"{percentile(samples, 0.5):.3f}",
                f"{percentile(samples, 0.99):.3f}",
                ratio(percentile(samples, 0.5), raw_p50),
                note,
            )
            for name, samples, note in measured.rows
        ],
        note="Each ratio is the row's p50 over the p50 of raw onnxruntime batch-1 scoring.",
    )


def _http_table(http_rows: list[tuple[int, list[float], float]], raw: list[float], requests: int) -> FigureTable:
    raw_p50 = percentile(raw, 0.5)
    return FigureTable(
        title=f"Over HTTP through the local gateway, {requests:,} decisions per level",
        columns=(Column("concurrency"), Column("p50 ms"), Column("p99 ms"), Column("x raw p50"), Column("decisions/s")),
        rows=[
            (
                str(concurrency),
                f"{percentile(samples, 0.5):.1f}",
                f"{percentile(samples, 0.99):.1f}",
                ratio(percentile(samples, 0.5), raw_p50),
                f"{throughput:,.0f}",
            )
            for concurrency, samples, throughput in http_rows
        ],
        note=(
            "The gateway, every function and moto share this one process; the model runs in the local worker "
            "processes. Each ratio is the level's p50 over the p50 of raw onnxruntime batch-1 scoring."
        ),
    )


def _cold_table(cold: ColdStarts) -> FigureTable:
    floor = statistics.median([run.total_ms for run in cold.floor])

    def row(name: str, runs: list[ColdStart]) -> tuple[str, ...]:
        total = statistics.median([run.total_ms for run in runs])
        imports, init = (
            statistics.median([run.import_ms for run in runs]),
            statistics.median([run.init_ms for run in runs]),
        )
        return (name, f"{imports:,.0f}", f"{init:,.0f}", f"{total:,.0f}", ratio(total, floor))

    return FigureTable(
        title=f"Cold start, median of {len(cold.function)} fresh processes each (milliseconds)",
        columns=(
            Column("process", figures=False),
            Column("import ms"),
            Column("init ms"),
            Column("total ms"),
            Column("x floor"),
        ),
        rows=[
            row("floor: boto3, pydantic, Powertools, Chalice; a route, a logger, a DynamoDB client", cold.floor),
            row(
                f"its dependencies: the same {cold.framework_modules:,} third-party modules as the function, "
                "the floor's handler",
                cold.frameworks,
            ),
            row(
                "API function: import its modules, then `functions.decision_api.app`, which builds its services",
                cold.function,
            ),
        ],
        note=(
            "Each ratio is the process's median total over the floor's. The function's init (its services, clients "
            "and SnapStart hooks) runs when its module is imported, so that a snapshot holds it."
        ),
    )


def _targets(measured: InProcess, cold: ColdStarts) -> list[Target]:
    full = measured.governed
    floor_p50 = percentile(measured.raw, 0.5) + sum(percentile(samples, 0.5) for samples in measured.stores)
    floor_p99 = percentile(measured.raw, 0.99) + sum(percentile(samples, 0.99) for samples in measured.stores)
    overhead_p50 = percentile(full, 0.5) - floor_p50
    overhead_p99 = percentile(full, 0.99) - floor_p99
    cold_start = statistics.median([run.total_ms for run in cold.function])
    floor = statistics.median([run.total_ms for run in cold.floor])
    accepted = measured.round_trips["accepted store"]
    return [
        Target(
            what="governed overhead at p50 above the raw model call and the store round trips alone (sum of p50s)",
            target=f"<= {TARGET_OVERHEAD_P50_MS:g} ms",
            measured=f"{overhead_p50:.3f} ms",
            met=overhead_p50 <= TARGET_OVERHEAD_P50_MS,
        ),
        Target(
            what="governed overhead at p99 above the raw model call and the store round trips alone (sum of p99s)",
            target=f"<= {TARGET_OVERHEAD_P99_MS:g} ms",
            measured=f"{overhead_p99:.3f} ms",
            met=overhead_p99 <= TARGET_OVERHEAD_P99_MS,
        ),
        Target(
            what="accepted-store round trips per governed decision (request key read, acceptance)",
            target=f"<= {TARGET_STORE_ROUND_TRIPS}",
            measured=f"{accepted:.2f} (and {measured.round_trips['online features']:.2f} to the online features)",
            met=accepted <= TARGET_STORE_ROUND_TRIPS,
        ),
        Target(
            what=f"API function cold start, import and init, over the floor's (medians of {len(cold.function)})",
            target=f"<= {TARGET_COLD_START_RATIO:g}x",
            measured=f"{cold_start / floor:.2f}x ({cold_start:,.0f} ms over {floor:,.0f} ms)",
            met=cold_start / floor <= TARGET_COLD_START_RATIO,
        ),
    ]


def _fallback_finding(measured: InProcess, iterations: int) -> str:
    if not measured.fallbacks:
        return f"All {iterations:,} governed decisions timed in process were scored by the model."
    return (
        f"{measured.fallbacks:,} of the {iterations:,} governed decisions timed in process fell back without the "
        "model (the latency budget was spent before the call) and are left out of their row and the targets."
    )


def _heavy_finding(cold: ColdStarts) -> str:
    if not cold.heavy_loaded:
        return f"The API function's cold start imports none of {', '.join(HEAVY_MODULES)}."
    return f"The API function's cold start imports {', '.join(cold.heavy_loaded)}."
