"""`leaim bench` and `leaim bench-ingest`: the decision and ingestion paths measured against their floors.

Measured on the reference model: raw onnxruntime batch-1 scoring; a bare Chalice handler that only
parses the request (the framework floor); the full governed decision in process (validation, DynamoDB
enrichment over loopback, routing, rules, telemetry, durable SQLite audit); decisions over HTTP through
the local gateway at several concurrency levels; and the API function's cold start in a fresh process.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
from chalice.app import Chalice, Response
from rich.table import Table

from contracts.decision.v1 import DecisionRequest, DecisionResponse
from contracts.inference.v1 import InferenceRequest, InferenceResult
from embedded.bench.workers import ModelBench, bench_models
from embedded.demos.traffic import decision_request, percentile, send
from embedded.emulation.context import LocalFunction
from embedded.synthetic import CardFraudGenerator, transaction_record
from embedded.world import REFERENCE_USE_CASE, LocalWorld, WorldOptions
from gpu_workers.artifacts import store_manifest
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.inference.signatures import load_public_keys
from gpu_workers.training.trainer import train
from leaim.adapters.dynamodb import DynamoFeatureStore
from leaim.adapters.sql import SqlAuditLog, create_engine_for
from leaim.bootstrap.decisions import build_decision_api, build_decisions
from leaim.data.datasets import DatasetCatalog
from leaim.data.features import feature_matrix, feature_vector, merge_online
from leaim.data.parquet import encode
from leaim.data.privacy import entity_id
from leaim.data.records import PreparedRecord, RecordPreparer, column_data, stored_columns
from leaim.data.validation import validate_fields
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.access.gate import Invocation
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from contracts.model.v1 import ModelManifest, SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult

COLD_START_RUNS = 5
COLD_START_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import functions.decision_api.app as function
imported = time.perf_counter()
function.decision_api()
ready = time.perf_counter()
print(json.dumps({"import_ms": (imported - started) * 1000, "init_ms": (ready - imported) * 1000,
                  "onnxruntime_loaded": "onnxruntime" in sys.modules}))
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


def _timed(call: Callable[[], object], iterations: int, warmup: int = 50) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


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


def run_bench(console: Console, *, iterations: int, http_requests: int) -> int:
    """Run every measurement and print the table; returns the exit status."""
    with (
        tempfile.TemporaryDirectory(prefix="leaim-bench-") as state,
        LocalWorld(WorldOptions(state_dir=Path(state), breaker_reset_s=10.0)) as world,
    ):
        with console.status("Training the reference model..."):
            trained = world.train()
        generator = CardFraudGenerator(world.manifest, seed=11)
        cards = generator.cards(200)
        world.seed(cards)
        samples = generator.transactions(iterations + 100, cards)
        rows, raw, full = _in_process(console, world, trained, samples, iterations)
        http_rows = _http(world, samples, world.api_keys["decision_client"], http_requests, console)
        cold = _cold_starts(console)
    _print(console, rows, raw, full, http_rows, cold)
    return 0


def _in_process(
    console: Console, world: LocalWorld, trained: ModelManifest, samples: list[Any], iterations: int
) -> tuple[list[tuple[str, list[float], str]], list[float], list[float]]:
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
    context = LocalFunction(
        "BenchFloor",
        "bench-floor",
        "arn:aws:lambda:us-east-1:123456789012:function:bench-floor",
        floor_app,
        10,
        1024,
    ).new_context()
    with console.status("Bare Chalice parse-only handler..."):
        floor = _timed(lambda: floor_app(event, context), iterations)
    rows.append(("bare Chalice handler (parse only)", floor, "the framework floor"))

    api = build_decision_api(
        build_decisions("decision-api", workers=InProcessWorkerClient(runtime, world.state_dir / "artifacts")),
        source="DecisionApiFunction",
    )
    bodies = iter(json.dumps({"request_id": f"gov-{i}", "inputs": s.inputs}).encode() for i, s in enumerate(samples))
    headers = {"x-api-key": key, "content-type": "application/json"}

    def governed() -> None:
        answer = api.create(REFERENCE_USE_CASE, next(bodies), Invocation(uuid.uuid4().hex, headers, 10_000.0))
        if answer.status != 200 or answer.body["fallback"]:
            raise RuntimeError(f"governed decision did not score: {answer.status} {answer.body}")

    with console.status("Full governed decision in process..."):
        full = _timed(governed, iterations, warmup=50)
    rows.append(("governed decision, in process", full, "validate, enrich, score, rules, audit"))

    features = DynamoFeatureStore(world.running.table_name("FeaturesTable"), boto3.client("dynamodb"))
    card = entity_id(manifest, transaction.inputs, world.pii_key())
    with console.status("Online feature lookup..."):
        lookup = _timed(lambda: features.get(REFERENCE_USE_CASE, card), iterations)
    rows.append(("  of which: DynamoDB GetItem", lookup, "enrichment, moto over loopback"))
    log = SqlAuditLog(create_engine_for(os.environ["LEAIM_DATABASE_URL"]))
    sample = world.audit_log.events(AuditQuery(source="DecisionApiFunction", outcome="success"), limit=1)[0]
    decision = DecisionResponse.model_validate(
        api.read(str(sample.decision_id), Invocation(uuid.uuid4().hex, headers)).body
    )
    stored = iter(range(10**9))

    def commit() -> None:
        index = next(stored)
        log.record_decision(
            decision.model_copy(update={"decision_id": f"bench-{index}", "request_id": f"bench-{index}"}),
            transaction.inputs,
            sample.model_copy(update={"event_id": f"bench-{index}"}),
            [sample.model_copy(update={"event_id": f"bench-w-{index}"})],
        )

    with console.status("Durable audit commit..."):
        commits = _timed(commit, iterations)
    rows.append(("  of which: audit commit", commits, "decision + 2 events, one SQLite transaction"))

    return rows, raw, full


def _http(
    world: LocalWorld, samples: list[Any], key: str, requests: int, console: Console
) -> list[tuple[int, list[float], float]]:
    results = []
    api_url = world.running.api_url
    for concurrency in (1, 4, 16):
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


def _cold_starts(console: Console) -> list[dict[str, Any]]:
    runs = []
    with console.status("API function cold start in fresh processes..."):
        for _ in range(COLD_START_RUNS):
            output = subprocess.run(
                [sys.executable, "-c", COLD_START_SCRIPT],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return runs


def _print(
    console: Console,
    rows: list[tuple[str, list[float], str]],
    raw: list[float],
    full: list[float],
    http_rows: list[tuple[int, list[float], float]],
    cold: list[dict[str, Any]],
) -> None:
    table = Table(title="Decision path, one run (milliseconds)")
    for column in ("measurement", "p50", "p99", "x raw p50", "what it is"):
        table.add_column(column, justify="left" if column in ("measurement", "what it is") else "right")
    raw_p50 = percentile(raw, 0.5)
    for name, samples, note in rows:
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        table.add_row(name, f"{p50:.3f}", f"{p99:.3f}", f"{p50 / raw_p50:.1f}", note)
    for concurrency, samples, throughput in http_rows:
        p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
        table.add_row(
            f"HTTP via local gateway, concurrency {concurrency}",
            f"{p50:.3f}",
            f"{p99:.3f}",
            f"{p50 / raw_p50:.1f}",
            f"{throughput:.0f} decisions/s, worker process over HTTP",
        )
    console.print(table)
    overhead_p50 = percentile(full, 0.5) - raw_p50
    overhead_p99 = percentile(full, 0.99) - percentile(raw, 0.99)
    console.print(
        f"Governed overhead above the raw model call: p50(governed) - p50(raw) = {overhead_p50:.3f} ms "
        f"(target <= 1), p99(governed) - p99(raw) = {overhead_p99:.3f} ms (target <= 3)"
    )
    totals = sorted(run["import_ms"] + run["init_ms"] for run in cold)
    median = totals[len(totals) // 2]
    imports = sorted(run["import_ms"] for run in cold)[len(cold) // 2]
    console.print(
        f"API function cold start (import + init, median of {len(cold)} fresh processes): {median:.0f} ms "
        f"(import {imports:.0f} ms; target <= 300); onnxruntime imported: "
        f"{any(run['onnxruntime_loaded'] for run in cold)}"
    )


def run_ingest_bench(console: Console, *, records: int, http_records: int) -> int:
    """Ingestion throughput, floor first: validation alone, then validation and transformation with the
    batched Parquet write (best of three each), then the Kinesis handler path and HTTP on the local stack, once.
    Returns the exit status.
    """
    manifest = ManifestCatalog.from_directory(None).get(REFERENCE_USE_CASE)
    datasets = DatasetCatalog.from_directory(ManifestCatalog.from_directory(None))
    contract = datasets.get("transactions", "v1")
    assert contract is not None
    generator = CardFraudGenerator(manifest, seed=5)
    start = datetime.now(UTC) - timedelta(days=7)
    batch = [
        transaction_record(t, start + timedelta(seconds=i))
        for i, t in enumerate(generator.transactions(records, generator.cards(max(records // 10, 1))))
    ]
    preparer = RecordPreparer(contract, manifest, b"bench-pii-key-0123456789abcdef")
    columns = stored_columns(datasets.latest("transactions"), manifest)
    rows: list[tuple[str, float, str]] = []
    with console.status("Validation alone..."):
        seconds = _best(lambda: [validate_fields(contract.fields, r, prefix="record.", unknown="") for r in batch])
    rows.append(("validation alone", records / seconds, "the floor: the contract check of each record"))
    with console.status("Validation, minimization, features and the Parquet encoding..."):

        def transform() -> None:
            prepared = [preparer.prepare(record) for record in batch]
            good = [p for p in prepared if isinstance(p, PreparedRecord)]
            now = datetime.now(UTC)
            encode(columns, column_data(columns, good, manifest=manifest, source="bench", ingested_at=now))

        seconds = _best(transform)
    rows.append(("validate + transform + Parquet", records / seconds, "one core, no I/O: the 20,000/s target"))
    with (
        tempfile.TemporaryDirectory(prefix="leaim-bench-") as state,
        LocalWorld(WorldOptions(state_dir=Path(state), worker_processes=1)) as world,
    ):
        function = world.running.function("IngestStreamFunction")
        events = [_kinesis_event(world, batch[i : i + 500], i) for i in range(0, len(batch), 500)]
        with console.status("Kinesis handler path (moto writes)..."):
            seconds = _once(lambda: [function.invoke(event) for event in events])
        rows.append(("Kinesis handler, in process", records / seconds, "validate, transform, S3 + DynamoDB on moto"))
        fresh = [{**r, "transaction_id": f"http-{r['transaction_id']}"} for r in batch[:http_records]]
        with console.status("HTTP through the local gateway..."):

            def post() -> None:
                for i in range(0, len(fresh), 5_000):
                    world.call(
                        "POST",
                        "/v1/ingest/transactions",
                        "data_producer",
                        {"contract_version": "v1", "records": fresh[i : i + 5_000]},
                    )

            seconds = _once(post)
        rows.append(("HTTP, batches of 5,000", len(fresh) / seconds, "the same, behind the gateway"))
    table = Table(title=f"Ingestion throughput ({records:,} records, one process)")
    table.add_column("path")
    table.add_column("records/s", justify="right")
    table.add_column("x validation", justify="right")
    table.add_column("what it includes")
    floor = rows[0][1]
    for name, rate, note in rows:
        table.add_row(name, f"{rate:,.0f}", f"{rate / floor:.3f}", note)
    console.print(table)
    return 0


def _best(call: Callable[[], object], runs: int = 3) -> float:
    """The fastest of `runs` timings: CPU-bound work measured without the noise of a busy machine."""
    return min(_once(call) for _ in range(runs))


def _once(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _kinesis_event(world: LocalWorld, records: list[dict[str, Any]], offset: int) -> dict[str, Any]:
    """A Lambda Kinesis event carrying `records` as ingest.v1 messages."""
    arn = world.running.physical_resource("IngestStream").attributes["Arn"]
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "bench",
                    "sequenceNumber": f"{offset + i:056d}",
                    "data": base64.b64encode(
                        json.dumps({"dataset": "transactions", "contract_version": "v1", "record": r}).encode()
                    ).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{offset + i:056d}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
                "awsRegion": world.running.region,
                "eventSourceARN": arn,
            }
            for i, r in enumerate(records)
        ]
    }


def run_model_bench(console: Console, *, rows: int) -> int:
    """Train both families on the reference use case's features, then time cold loads and batched scoring."""
    manifest = ManifestCatalog.from_directory(None).get(REFERENCE_USE_CASE)
    generator = CardFraudGenerator(manifest, seed=7)
    transactions = generator.transactions(rows, generator.cards(max(rows // 10, 100)))
    features = np.asarray(feature_matrix(manifest, [(t.inputs, t.online) for t in transactions]), dtype=np.float64)
    labels = np.asarray([t.label for t in transactions], dtype=np.int64)
    with console.status(f"Training on {rows} card_fraud rows, then loading and scoring every artifact..."):
        bench = bench_models(features, labels, manifest.feature_names)
    _print_model_bench(console, bench)
    return 0


def _print_model_bench(console: Console, bench: ModelBench) -> None:
    console.print(f"{bench.rows} card_fraud rows x {bench.features} features; sessions on {bench.provider}")
    trained = Table(title="Training and evaluation")
    for column in ("model", "training ms", "evaluation ms", "artifact bytes", "AUC"):
        trained.add_column(column, justify="left" if column == "model" else "right")
    for model in bench.trained:
        trained.add_row(
            model.label,
            f"{model.training_ms:.0f}",
            f"{model.evaluation_ms:.0f}",
            f"{model.artifact_bytes:,}",
            f"{model.auc:.3f}",
        )
    console.print(trained)
    loads = Table(title="Worker cold load: verify signature and digest, create the session (median)")
    for column in ("model", "artifact bytes", "ms"):
        loads.add_column(column, justify="left" if column == "model" else "right")
    for load in bench.cold_loads:
        loads.add_row(load.label, f"{load.artifact_bytes:,}", f"{load.load_ms:.1f}")
    console.print(loads)
    sizes = sorted({figure.batch_size for figure in bench.throughput})
    scoring = Table(title="Batched scoring, rows/s (x batch 1)")
    scoring.add_column("model")
    for size in sizes:
        scoring.add_column(f"batch {size}", justify="right")
    for label in dict.fromkeys(figure.label for figure in bench.throughput):
        cells = {f.batch_size: f for f in bench.throughput if f.label == label}
        scoring.add_row(
            label, *(f"{cells[size].rows_per_s:,.0f} ({cells[size].speedup:.1f})" for size in sizes if size in cells)
        )
    console.print(scoring)
