"""`leaim bench-models`: the workers' training, cold load and batched scoring, each against its floor.

`bench_models` trains every measured model on the given matrix through the real trainer, publishes a
signed manifest for each (with a key made for the run), and measures the inference runtime on them:

- training and evaluation time per family (gradient boosted trees at several tree counts), against
  logistic regression trained on the same rows;
- cold load per artifact size: manifest verification, sha256 and session creation, as a container's
  `@modal.enter` does it, against creating the onnxruntime session from the same bytes alone; the median
  of a few repetitions with the files in the page cache;
- batched scoring throughput of `ModelRuntime.score_many` with one single-row request per item, as
  `@modal.batched` hands them over, at several batch sizes side by side, against batch size 1 and against
  the raw session run on the same batches; the figures include building each request's result, reasons
  and span, as the worker does.

`run_model_bench` runs it on generated `card_fraud` rows (the reference use case's features) and writes
the page. Sessions use CUDA first when onnxruntime offers it; the page names the provider that served.
"""

from __future__ import annotations

import base64
import hashlib
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.inference.v1 import InferenceRequest
from contracts.model.v1 import Lineage, ModelManifest, SignedManifest
from contracts.training.v2 import TrainingRequest
from embedded.bench.report import (
    DOCS_DIRECTORY,
    BenchmarkPage,
    Column,
    FigureTable,
    describe_machine,
    format_ratio,
    publish,
    ratio,
)
from embedded.synthetic import CardFraudGenerator
from embedded.world import REFERENCE_USE_CASE
from gpu_workers.artifacts import store_manifest
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.inference.signatures import key_id
from gpu_workers.model_format import CONTRIBUTIONS_OUTPUT, INPUT_NAME, SCORE_OUTPUT, artifact_filename
from gpu_workers.training.trainer import train
from leaim.data.features import feature_matrix
from leaim.domain.manifests import ManifestCatalog

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray
    from rich.console import Console

    from contracts.training.v2 import ParamValue, TrainingResult

MODEL_NAME = "bench-model"
TREE_COUNTS = (10, 100, 500, 1000)
BATCH_SIZES = (1, 8, 64, 512)
LOAD_REPETITIONS = 5
SCORED_ROWS = 2048
SCORING_ROUNDS = 5
SEED = 7
HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """One trained, published model of the run and what training it cost."""

    label: str
    family: str
    artifact_digest: str
    artifact_bytes: int
    training_ms: float
    evaluation_ms: float
    auc: float


@dataclass(frozen=True, slots=True)
class ColdLoad:
    """Median time to verify and load one artifact into a fresh runtime, and to create its session alone."""

    label: str
    artifact_bytes: int
    load_ms: float
    session_ms: float


@dataclass(frozen=True, slots=True)
class Throughput:
    """Median rows per second through `score_many` at one batch size, its ratio to the first size (1), and
    the median rows per second of the raw session run on the same batches."""

    label: str
    batch_size: int
    rows_per_s: float
    speedup: float
    session_rows_per_s: float


@dataclass(frozen=True, slots=True)
class ModelBench:
    """Every figure of one run, and the sizes it ran at."""

    rows: int
    features: int
    provider: str
    tree_counts: list[int]
    load_repetitions: int
    scored_rows: int
    scoring_rounds: int
    trained: list[TrainedModel]
    cold_loads: list[ColdLoad]
    throughput: list[Throughput]


def bench_models(
    features: NDArray[np.float64],
    labels: NDArray[np.int64],
    feature_names: Sequence[str],
    *,
    tree_counts: Sequence[int] = TREE_COUNTS,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    load_repetitions: int = LOAD_REPETITIONS,
    scored_rows: int = SCORED_ROWS,
    scoring_rounds: int = SCORING_ROUNDS,
) -> ModelBench:
    """Train logistic regression and gradient boosted trees (one model per count of `tree_counts`) on the
    matrix, then time cold loads of every artifact and batched scoring of its first `scored_rows` rows.

    Each batch size scores the same rows once per round; a size's figure is the median over the rounds.
    """
    matrix = _Matrix(features, labels, list(feature_names))
    signing_key = Ed25519PrivateKey.generate()
    public_keys = {key_id(signing_key.public_key()): signing_key.public_key()}
    candidates: list[tuple[str, str, dict[str, ParamValue]]] = [("logistic regression", "logistic_regression", {})]
    candidates += [(f"boosted trees x{n}", "gradient_boosted_trees", {"n_estimators": n}) for n in tree_counts]
    with tempfile.TemporaryDirectory(prefix="leaim-bench-models-") as directory:
        root = Path(directory)
        trained = [
            _train_and_publish(root, signing_key, matrix, index, label, family, params)
            for index, (label, family, params) in enumerate(candidates)
        ]
        cold_loads = [_cold_load(root, model, public_keys, load_repetitions) for model in trained]
        runtimes = {
            model.label: ModelRuntime.load(root, model.artifact_digest, public_keys, worker="bench")
            for model in trained
        }
        sessions = {model.label: _session(root, model, runtimes[model.label].providers) for model in trained}
    throughput = [
        figure
        for label, runtime in runtimes.items()
        for figure in _throughput(label, runtime, sessions[label], features[:scored_rows], batch_sizes, scoring_rounds)
    ]
    return ModelBench(
        rows=len(features),
        features=len(feature_names),
        provider=next(iter(runtimes.values())).providers[0],
        tree_counts=list(tree_counts),
        load_repetitions=load_repetitions,
        scored_rows=min(scored_rows, len(features)),
        scoring_rounds=scoring_rounds,
        trained=trained,
        cold_loads=cold_loads,
        throughput=throughput,
    )


def run_model_bench(
    console: Console,
    *,
    rows: int,
    tree_counts: Sequence[int] = TREE_COUNTS,
    docs_dir: Path | None = DOCS_DIRECTORY,
) -> int:
    """Train both families on `rows` generated `card_fraud` rows, then time cold loads and batched scoring of
    every artifact; print the tables and write `models.md` into `docs_dir` (nothing when None).

    Returns the exit status.
    """
    started_at = datetime.now(UTC)
    manifest = ManifestCatalog.from_directory(None).get(REFERENCE_USE_CASE)
    generator = CardFraudGenerator(manifest, seed=SEED)
    transactions = generator.transactions(rows, generator.cards(max(rows // 10, 100)))
    features = np.asarray(feature_matrix(manifest, [(t.inputs, t.online) for t in transactions]), dtype=np.float64)
    labels = np.asarray([t.label for t in transactions], dtype=np.int64)
    with console.status(f"Training on {rows} card_fraud rows, then loading and scoring every artifact..."):
        bench = bench_models(features, labels, manifest.feature_names, tree_counts=tree_counts)
    page = model_page(
        bench,
        data="generated `card_fraud` rows (the reference use case's features)",
        command=f"leaim bench-models --rows {rows}",
        started_at=started_at,
    )
    publish(console, page, docs_dir)
    return 0


def model_page(bench: ModelBench, *, data: str, command: str, started_at: datetime) -> BenchmarkPage:
    """The page of one run's figures on the rows `data` describes, produced by `command` from `started_at` until now."""
    sizes = sorted({figure.batch_size for figure in bench.throughput})
    trees = ", ".join(f"{count:,}" for count in bench.tree_counts)
    return BenchmarkPage(
        name="models",
        title="Models: training, cold load and batched scoring",
        summary=(
            f"The workers' own costs on {bench.rows:,} {data}, {bench.features} features each, trained through "
            "the real trainer: logistic regression and gradient "
            f"boosted trees of {trees} trees, for artifacts of several sizes, each training timed against "
            "logistic regression's. For every artifact: the worker's cold load (read and verify the signed "
            "manifest, hash the artifact, create the onnxruntime session, check its metadata) against creating "
            "the session from the same bytes alone; and batched scoring through `ModelRuntime.score_many`, one "
            f"request per row as `@modal.batched` delivers them, at batch sizes {', '.join(map(str, sizes))}, "
            "against batch 1 and against the raw session run on the same batches."
        ),
        command=command,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(bench.provider),
        tables=[_training_table(bench), _cold_load_table(bench), _scoring_table(bench)],
    )


def _training_table(bench: ModelBench) -> FigureTable:
    floor = bench.trained[0].training_ms
    return FigureTable(
        title="Training and evaluation",
        columns=(
            Column("model", figures=False),
            Column("training ms"),
            Column("x logistic regression"),
            Column("evaluation ms"),
            Column("artifact bytes"),
            Column("AUC"),
        ),
        rows=[
            (
                model.label,
                f"{model.training_ms:,.0f}",
                ratio(model.training_ms, floor),
                f"{model.evaluation_ms:,.0f}",
                f"{model.artifact_bytes:,}",
                f"{model.auc:.3f}",
            )
            for model in bench.trained
        ],
        note=(
            "Evaluation is the ONNX export, the parity check, quality, calibration and group rates on the held-out "
            "split, the one-row latency runs and the baseline histograms. Each ratio is the model's training time "
            "over logistic regression's on the same rows."
        ),
    )


def _cold_load_table(bench: ModelBench) -> FigureTable:
    return FigureTable(
        title="Worker cold load: verify the signature and the digest, create the session",
        columns=(
            Column("model", figures=False),
            Column("artifact bytes"),
            Column("cold load ms"),
            Column("session alone ms"),
            Column("x session alone"),
        ),
        rows=[
            (
                load.label,
                f"{load.artifact_bytes:,}",
                f"{load.load_ms:.1f}",
                f"{load.session_ms:.1f}",
                ratio(load.load_ms, load.session_ms),
            )
            for load in bench.cold_loads
        ],
        note=(
            f"Medians of {bench.load_repetitions} loads each, the files in the page cache. Each ratio is the cold "
            "load's time over the time to create the onnxruntime session from the same bytes alone."
        ),
    )


def _scoring_table(bench: ModelBench) -> FigureTable:
    return FigureTable(
        title="Batched scoring through `score_many`, one single-row request per item",
        columns=(
            Column("model", figures=False),
            Column("batch"),
            Column("rows/s"),
            Column("x batch 1"),
            Column("raw session rows/s"),
            Column("x raw session"),
        ),
        rows=[
            (
                figure.label,
                str(figure.batch_size),
                f"{figure.rows_per_s:,.0f}",
                format_ratio(figure.speedup),
                f"{figure.session_rows_per_s:,.0f}",
                ratio(figure.rows_per_s, figure.session_rows_per_s),
            )
            for figure in bench.throughput
        ],
        note=(
            f"Medians over {bench.scoring_rounds} rounds of {bench.scored_rows:,} rows at each batch size. "
            "`x batch 1` is the rate over the same model's at batch 1; `x raw session` is the rate over that of "
            "the bare onnxruntime session run on the same batches, without requests, results, reasons or spans."
        ),
    )


@dataclass(frozen=True, slots=True)
class _Matrix:
    features: NDArray[np.float64]
    labels: NDArray[np.int64]
    feature_names: list[str]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.features.tobytes() + self.labels.tobytes()).hexdigest()


def _train_and_publish(
    root: Path,
    signing_key: Ed25519PrivateKey,
    matrix: _Matrix,
    index: int,
    label: str,
    family: str,
    params: dict[str, ParamValue],
) -> TrainedModel:
    request = TrainingRequest(
        job_id=f"bench-{index}",
        model_name=MODEL_NAME,
        model_version=f"v{index + 1}",
        family=family,
        params=params,
        seed=SEED,
        feature_names=matrix.feature_names,
        rows=matrix.features.tolist(),
        labels=matrix.labels.tolist(),
        deadline_unix_ms=int(time.time() * 1000) + HOUR_MS,
    )
    result = train(request, root, worker="bench")
    store_manifest(_sign(_manifest(request, result, matrix.sha256), signing_key), root)
    return TrainedModel(
        label=label,
        family=family,
        artifact_digest=result.artifact_digest,
        artifact_bytes=result.artifact_bytes,
        training_ms=result.training_ms,
        evaluation_ms=result.evaluation_ms,
        auc=result.metrics.auc,
    )


def _manifest(request: TrainingRequest, result: TrainingResult, snapshot_sha256: str) -> ModelManifest:
    # The benchmark's own lineage: no snapshot or lifecycle job stands behind these versions.
    return ModelManifest(
        model_name=result.model_name,
        model_version=result.model_version,
        use_case="bench",
        family=result.family,
        artifact_digest=result.artifact_digest,
        artifact_bytes=result.artifact_bytes,
        artifact_key=f"bench/{result.artifact_digest}.onnx",
        feature_names=result.feature_names,
        params=result.params,
        seed=request.seed,
        threshold=request.threshold,
        metrics=result.metrics,
        gates=[],
        status="approved",
        lineage=Lineage(
            dataset="bench",
            snapshot_id="bench",
            snapshot_sha256=snapshot_sha256,
            feature_version="bench",
            code_version="bench",
            training_job_id=request.job_id,
            trigger="person",
            requested_by="bench",
        ),
        baseline=result.baseline,
        created_at=datetime.now(UTC),
    )


def _sign(manifest: ModelManifest, signing_key: Ed25519PrivateKey) -> SignedManifest:
    signature = base64.b64encode(signing_key.sign(manifest.canonical_bytes())).decode()
    return SignedManifest(manifest=manifest, key_id=key_id(signing_key.public_key()), signature=signature)


def _cold_load(root: Path, model: TrainedModel, public_keys: dict[str, Ed25519PublicKey], repetitions: int) -> ColdLoad:
    """Median of `repetitions` verified loads, and of as many sessions created from the same bytes alone."""
    loads, sessions = [], []
    artifact = (root / artifact_filename(model.artifact_digest)).read_bytes()
    for _ in range(repetitions):
        started = time.perf_counter()
        runtime = ModelRuntime.load(root, model.artifact_digest, public_keys, worker="bench")
        loads.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        session = ort.InferenceSession(artifact, providers=runtime.providers)
        sessions.append((time.perf_counter() - started) * 1000)
        # Released outside the timings: closing a session (its thread pool) is no part of a load.
        del runtime, session
    return ColdLoad(model.label, model.artifact_bytes, statistics.median(loads), statistics.median(sessions))


def _session(root: Path, model: TrainedModel, providers: list[str]) -> ort.InferenceSession:
    """A bare session on the model's artifact, for the raw scoring floor."""
    return ort.InferenceSession((root / artifact_filename(model.artifact_digest)).read_bytes(), providers=providers)


def _throughput(
    label: str,
    runtime: ModelRuntime,
    session: ort.InferenceSession,
    rows: NDArray[np.float64],
    batch_sizes: Sequence[int],
    rounds: int,
) -> list[Throughput]:
    requests = [
        InferenceRequest(
            request_id=f"bench-{index}",
            model_name=runtime.model_name,
            model_version=runtime.model_version,
            artifact_digest=runtime.digest,
            feature_names=runtime.feature_names,
            rows=[row],
            deadline_unix_ms=int(time.time() * 1000) + HOUR_MS,
        )
        for index, row in enumerate(rows.tolist())
    ]
    batched = {
        size: [requests[start : start + size] for start in range(0, len(requests), size)] for size in batch_sizes
    }
    matrices = {
        size: [rows[start : start + size].astype(np.float32) for start in range(0, len(rows), size)]
        for size in batch_sizes
    }
    for size, batches in batched.items():
        runtime.score_many(batches[0])
        session.run([SCORE_OUTPUT, CONTRIBUTIONS_OUTPUT], {INPUT_NAME: matrices[size][0]})
    # Rounds alternate the batch sizes and the two paths, so drift in the machine's speed touches all alike.
    samples: dict[int, list[float]] = {size: [] for size in batch_sizes}
    floors: dict[int, list[float]] = {size: [] for size in batch_sizes}
    for _ in range(rounds):
        for size, batches in batched.items():
            started = time.perf_counter()
            for batch in batches:
                runtime.score_many(batch)
            samples[size].append(len(requests) / (time.perf_counter() - started))
            started = time.perf_counter()
            for matrix in matrices[size]:
                session.run([SCORE_OUTPUT, CONTRIBUTIONS_OUTPUT], {INPUT_NAME: matrix})
            floors[size].append(len(requests) / (time.perf_counter() - started))
    rates = {size: statistics.median(rows_per_s) for size, rows_per_s in samples.items()}
    base = rates[batch_sizes[0]]
    return [Throughput(label, size, rate, rate / base, statistics.median(floors[size])) for size, rate in rates.items()]
