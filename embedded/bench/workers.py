"""Benchmarks of the workers themselves: training and evaluation time, cold load by artifact size, batching.

`bench_models` trains every measured model on the given matrix through the real trainer, publishes a
signed manifest for each (with a key made for the run), and measures the inference runtime on them:

- training and evaluation time per family (gradient boosted trees at several tree counts);
- cold load per artifact size: manifest verification, sha256 and session creation, as a container's
  `@modal.enter` does it, the median of a few repetitions with the files in the page cache;
- batched scoring throughput of `ModelRuntime.score_many` with one single-row request per item, as
  `@modal.batched` hands them over, at several batch sizes side by side, against batch size 1; the
  figures include building each request's result, reasons and span, as the worker does.

Sessions use CUDA first when onnxruntime offers it; the report names the provider that served.
Run `python -m embedded.bench.workers --rows 20000` for a table.
"""

from __future__ import annotations

import argparse
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
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.inference.v1 import InferenceRequest
from contracts.model.v1 import Lineage, ModelManifest, SignedManifest
from contracts.training.v2 import TrainingRequest
from gpu_workers.artifacts import store_manifest
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.inference.signatures import key_id
from gpu_workers.training.trainer import train

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

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
    """Median time to verify and load one artifact into a fresh runtime."""

    label: str
    artifact_bytes: int
    load_ms: float


@dataclass(frozen=True, slots=True)
class Throughput:
    """Median rows per second through `score_many` at one batch size, and the ratio to the first size (1)."""

    label: str
    batch_size: int
    rows_per_s: float
    speedup: float


@dataclass(frozen=True, slots=True)
class ModelBench:
    """Every figure of one run."""

    rows: int
    features: int
    provider: str
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
        cold_loads = [
            ColdLoad(model.label, model.artifact_bytes, _median_load_ms(root, model, public_keys, load_repetitions))
            for model in trained
        ]
        runtimes = {
            model.label: ModelRuntime.load(root, model.artifact_digest, public_keys, worker="bench")
            for model in trained
        }
    throughput = [
        figure
        for label, runtime in runtimes.items()
        for figure in _throughput(label, runtime, features[:scored_rows], batch_sizes, scoring_rounds)
    ]
    return ModelBench(
        rows=len(features),
        features=len(feature_names),
        provider=next(iter(runtimes.values())).providers[0],
        trained=trained,
        cold_loads=cold_loads,
        throughput=throughput,
    )


def synthetic_matrix(rows: int, seed: int = SEED) -> tuple[NDArray[np.float64], NDArray[np.int64], list[str]]:
    """Eight features and labels drawn from a logistic model with an interaction, for a standalone run."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 8)) * np.array([1.0, 2.0, 3.0, 1.0, 1.0, 5.0, 1.0, 0.5])
    logits = features @ np.array([1.5, -0.5, 0.3, 0.0, 2.0, -0.2, 0.8, 0.0]) + features[:, 0] * features[:, 6] - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return features, labels, [f"f{i}" for i in range(8)]


def format_report(bench: ModelBench) -> str:
    """The figures as three plain-text tables."""
    lines = [
        f"{bench.rows} rows x {bench.features} features; sessions on {bench.provider}",
        "",
        f"{'model':<24}{'training ms':>14}{'evaluation ms':>16}{'artifact bytes':>16}{'AUC':>8}",
    ]
    lines += [
        f"{m.label:<24}{m.training_ms:>14.0f}{m.evaluation_ms:>16.0f}{m.artifact_bytes:>16,}{m.auc:>8.3f}"
        for m in bench.trained
    ]
    lines += ["", f"{'cold load':<24}{'artifact bytes':>16}{'median ms':>12}"]
    lines += [f"{c.label:<24}{c.artifact_bytes:>16,}{c.load_ms:>12.1f}" for c in bench.cold_loads]
    lines += ["", f"{'batched scoring':<24}{'batch':>8}{'rows/s':>12}{'x batch 1':>11}"]
    lines += [f"{t.label:<24}{t.batch_size:>8}{t.rows_per_s:>12,.0f}{t.speedup:>11.1f}" for t in bench.throughput]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point: benchmark on a synthetic matrix and print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m embedded.bench.workers", description="Benchmark training, cold loads and batched scoring."
    )
    parser.add_argument("--rows", type=int, default=20_000, help="training rows (default: 20000)")
    parser.add_argument("--repetitions", type=int, default=LOAD_REPETITIONS, help="cold loads per artifact")
    args = parser.parse_args(argv)
    features, labels, names = synthetic_matrix(args.rows)
    print(format_report(bench_models(features, labels, names, load_repetitions=args.repetitions)))


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


def _median_load_ms(
    root: Path, model: TrainedModel, public_keys: dict[str, Ed25519PublicKey], repetitions: int
) -> float:
    samples = []
    for _ in range(repetitions):
        started = time.perf_counter()
        ModelRuntime.load(root, model.artifact_digest, public_keys, worker="bench")
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _throughput(
    label: str, runtime: ModelRuntime, rows: NDArray[np.float64], batch_sizes: Sequence[int], rounds: int
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
    for batches in batched.values():
        runtime.score_many(batches[0])
    # Rounds alternate the batch sizes, so drift in the machine's speed touches every size alike.
    samples: dict[int, list[float]] = {size: [] for size in batch_sizes}
    for _ in range(rounds):
        for size, batches in batched.items():
            started = time.perf_counter()
            for batch in batches:
                runtime.score_many(batch)
            samples[size].append(len(requests) / (time.perf_counter() - started))
    rates = {size: statistics.median(rows_per_s) for size, rows_per_s in samples.items()}
    base = rates[batch_sizes[0]]
    return [Throughput(label, size, rate, rate / base) for size, rate in rates.items()]


if __name__ == "__main__":
    main()
