"""Train a model version, export it to ONNX, evaluate the export on a held-out split, store it by its sha256.

Plain Python: the Modal function in `modal_app` wraps `train`, and tests call it on a CPU. The same
request (rows, seed, params, version) gives the same artifact bytes and the same quality metrics.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sklearn.model_selection import train_test_split

from contracts.training.v2 import FAMILY_PARAMS, TrainingMetrics, TrainingResult, param_problems
from gpu_workers.artifacts import store_artifact
from gpu_workers.exceptions import DeadlineExceededError, InvalidRequestError
from gpu_workers.telemetry import child_span, span_ids
from gpu_workers.training import evaluation
from gpu_workers.training.export import ArtifactIdentity, cpu_session, run_session
from gpu_workers.training.linear import fit_logistic_regression
from gpu_workers.training.trees import fit_gradient_boosted_trees

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from numpy.typing import NDArray
    from opentelemetry.trace import TracerProvider

    from contracts.training.v2 import Baseline, ParamValue, TrainingRequest


class NativeModel(Protocol):
    """A fitted model of one family, before export."""

    def predict(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Native probability of the positive label for each row of `features`."""
        ...

    def export(self, identity: ArtifactIdentity) -> bytes:
        """The ONNX artifact with `score` [N] and per-feature log-odds `contributions` [N, F]."""
        ...


# Every family of `contracts.training.v2.FAMILIES`, with the function that fits it.
FITTERS: dict[str, Callable[[NDArray[np.float64], NDArray[np.int64], dict[str, ParamValue], int], NativeModel]] = {
    "logistic_regression": fit_logistic_regression,
    "gradient_boosted_trees": fit_gradient_boosted_trees,
}


@dataclass(frozen=True, slots=True)
class Split:
    """The seeded, stratified train/holdout split of a request's rows; `holdout_rows` are their row numbers."""

    x_train: NDArray[np.float64]
    x_holdout: NDArray[np.float64]
    y_train: NDArray[np.int64]
    y_holdout: NDArray[np.int64]
    holdout_rows: NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Fitted:
    """A native model, the split it was fitted and is evaluated on, and every hyperparameter it used."""

    model: NativeModel
    split: Split
    params: dict[str, ParamValue]


def resolve_params(family: str, params: dict[str, ParamValue]) -> dict[str, ParamValue]:
    """`params` validated against the family's declared ranges, with every missing default filled in.

    Raises InvalidRequestError naming each problem (unknown family, unknown name, wrong type, out of range).
    """
    problems = param_problems(family, params)
    if problems:
        raise InvalidRequestError("; ".join(problems))
    resolved: dict[str, ParamValue] = {}
    for name, spec in FAMILY_PARAMS[family].items():
        value = params.get(name, spec.default)
        if value is None:
            continue
        # Integers are accepted where floats are declared (C=1); the model gets the declared type.
        resolved[name] = float(value) if spec.kind == "float" else value
    return resolved


def split(request: TrainingRequest) -> Split:
    """The request's rows split into a stratified holdout, seeded by the request's seed."""
    features = np.asarray(request.rows, dtype=np.float64)
    labels = np.asarray(request.labels, dtype=np.int64)
    if not np.isfinite(features).all():
        raise InvalidRequestError("rows must hold finite numbers only")
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 2:
        raise InvalidRequestError(f"need at least 2 rows of each label, got {counts[0]} of 0 and {counts[1]} of 1")
    try:
        parts = train_test_split(
            features,
            labels,
            np.arange(len(labels)),
            test_size=request.holdout_fraction,
            random_state=request.seed,
            stratify=labels,
        )
    except ValueError as error:
        raise InvalidRequestError(f"cannot split a stratified holdout: {error}") from error
    x_train, x_holdout, y_train, y_holdout, _, holdout_rows = parts
    return Split(x_train, x_holdout, y_train, y_holdout, holdout_rows)


def fit(request: TrainingRequest) -> Fitted:
    """Fit the request's family, seeded, on the training part of its split."""
    params = resolve_params(request.family, request.params)
    parts = split(request)
    model = FITTERS[request.family](parts.x_train, parts.y_train, params, request.seed)
    return Fitted(model, parts, params)


def train(
    request: TrainingRequest, artifact_root: Path, worker: str, tracer_provider: TracerProvider | None = None
) -> TrainingResult:
    """Fit, export ONNX, evaluate the export on the holdout and store the artifact by its sha256.

    Quality, calibration and group rates describe the exported model's scores, the ones that will be
    served; parity (max |ONNX - native| score on the holdout) is measured and reported, and judged by
    the caller. The "worker.train" span continues `request.trace_context` (with the global tracer
    provider unless one is given). Raises DeadlineExceededError when the deadline has passed and
    InvalidRequestError for an unknown family, unusable parameters, rows or labels.
    """
    started = time.perf_counter()
    if time.time() * 1000 >= request.deadline_unix_ms:
        raise DeadlineExceededError(f"training job {request.job_id} arrived after its deadline")
    with child_span("worker.train", request.trace_context, tracer_provider) as span:
        span.set_attribute("leaim.job_id", request.job_id)
        span.set_attribute("leaim.model", f"{request.model_name}:{request.model_version}")
        span.set_attribute("leaim.family", request.family)
        fitted = fit(request)
        trained = time.perf_counter()
        identity = ArtifactIdentity(
            request.model_name, request.model_version, list(request.feature_names), request.family
        )
        artifact = fitted.model.export(identity)
        metrics, baseline = _evaluate(request, fitted, artifact)
        evaluated = time.perf_counter()
        digest = store_artifact(artifact, artifact_root)
        span.set_attribute("leaim.artifact_digest", digest)
        trace_id, _ = span_ids(span)

    return TrainingResult(
        job_id=request.job_id,
        model_name=request.model_name,
        model_version=request.model_version,
        family=request.family,
        artifact_digest=digest,
        artifact_bytes=len(artifact),
        artifact_base64=base64.b64encode(artifact).decode(),
        metrics=metrics,
        baseline=baseline,
        feature_names=list(request.feature_names),
        params=fitted.params,
        worker=worker,
        training_ms=(trained - started) * 1000,
        evaluation_ms=(evaluated - trained) * 1000,
        duration_ms=(time.perf_counter() - started) * 1000,
        trace_id=trace_id,
    )


def _evaluate(request: TrainingRequest, fitted: Fitted, artifact: bytes) -> tuple[TrainingMetrics, Baseline]:
    parts = fitted.split
    session = cpu_session(artifact)
    exported, _ = run_session(session, parts.x_holdout)
    scores = exported.astype(np.float64)
    parity = float(np.max(np.abs(scores - fitted.model.predict(parts.x_holdout))))
    p50, p99 = evaluation.latency_ms(session, parts.x_holdout)
    quality = evaluation.quality(parts.y_holdout, scores, request.threshold)
    metrics = TrainingMetrics(
        auc=quality.auc,
        precision=quality.precision,
        recall=quality.recall,
        threshold=request.threshold,
        brier=quality.brier,
        calibration_error=quality.calibration_error,
        train_rows=len(parts.y_train),
        holdout_rows=len(parts.y_holdout),
        positive_rate=quality.positive_rate,
        parity_max_abs_diff=parity,
        latency_p50_ms=p50,
        latency_p99_ms=p99,
        group_rates=evaluation.group_rates(request.groups, parts.holdout_rows, scores, request.threshold),
    )
    return metrics, evaluation.baseline(request.feature_names, parts.x_train, scores)
