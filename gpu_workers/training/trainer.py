"""Train a model version, export it to ONNX, prove parity with the native model, store it by its sha256.

Plain Python: the Modal function in `modal_app` wraps `train`, and tests call it on a CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from contracts.training.v1 import TrainingMetrics, TrainingRequest, TrainingResult
from gpu_workers.exceptions import DeadlineExceededError, InvalidRequestError, ParityError
from gpu_workers.model_format import (
    CONTRIBUTIONS_OUTPUT,
    INPUT_NAME,
    METADATA_FAMILY,
    METADATA_FEATURE_NAMES,
    METADATA_MODEL_NAME,
    METADATA_MODEL_VERSION,
    SCORE_OUTPUT,
    artifact_filename,
)
from gpu_workers.telemetry import child_span, span_ids

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from opentelemetry.trace import TracerProvider

DECISION_THRESHOLD = 0.5

# Pinned so an artifact's bytes, and so its digest, do not change with the installed onnx version.
ONNX_OPSET = 17
ONNX_IR_VERSION = 10
PRODUCER_NAME = "leaim-training"
PRODUCER_VERSION = "1"

_PARAM_TYPES: dict[str, type] = {"C": float, "max_iter": int, "tol": float, "class_weight": str}
_CLASS_WEIGHTS = {"balanced"}


@dataclass(frozen=True, slots=True)
class LinearModel:
    """A standardized logistic model: score = sigmoid(sum(coef * (x - mean) / scale) + intercept)."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: float


@dataclass(frozen=True, slots=True)
class FittedModel:
    """The native scikit-learn model and the split it was fitted and evaluated on."""

    scaler: StandardScaler
    classifier: LogisticRegression
    x_train: NDArray[np.float64]
    x_holdout: NDArray[np.float64]
    y_train: NDArray[np.int64]
    y_holdout: NDArray[np.int64]

    def predict(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Native probability of the positive label for each row of `features`."""
        return np.asarray(self.classifier.predict_proba(self.scaler.transform(features))[:, 1], dtype=np.float64)

    def linear(self) -> LinearModel:
        """The fitted parameters in the form the ONNX export needs."""
        return LinearModel(
            mean=np.asarray(self.scaler.mean_, dtype=np.float64),
            scale=np.asarray(self.scaler.scale_, dtype=np.float64),
            coef=np.asarray(self.classifier.coef_[0], dtype=np.float64),
            intercept=float(self.classifier.intercept_[0]),
        )


def fit(request: TrainingRequest) -> FittedModel:
    """Fit StandardScaler + LogisticRegression on a seeded, stratified split of the request's rows."""
    features = np.asarray(request.rows, dtype=np.float64)
    labels = np.asarray(request.labels, dtype=np.int64)
    x_train, x_holdout, y_train, y_holdout = _split(features, labels, request)
    scaler = StandardScaler().fit(x_train)
    classifier = LogisticRegression(random_state=request.seed, **_classifier_params(request.params))
    classifier.fit(scaler.transform(x_train), y_train)
    return FittedModel(scaler, classifier, x_train, x_holdout, y_train, y_holdout)


def train(
    request: TrainingRequest, artifact_root: Path, worker: str, tracer_provider: TracerProvider | None = None
) -> TrainingResult:
    """Fit, evaluate on the holdout, export ONNX, check parity and store the artifact by its sha256.

    The "worker.train" span continues `request.trace_context` (with the global tracer provider unless
    one is given). Raises DeadlineExceededError when the deadline has passed, InvalidRequestError for
    unusable parameters or labels, ParityError when ONNX scores drift from the native model's.
    """
    started = time.perf_counter()
    if time.time() * 1000 >= request.deadline_unix_ms:
        raise DeadlineExceededError(f"training job {request.job_id} arrived after its deadline")
    with child_span("worker.train", request.trace_context, tracer_provider) as span:
        span.set_attribute("leaim.job_id", request.job_id)
        span.set_attribute("leaim.model", f"{request.model_name}:{request.model_version}")
        fitted = fit(request)
        native = fitted.predict(fitted.x_holdout)
        artifact = export_onnx(fitted.linear(), request.model_name, request.model_version, request.feature_names)
        exported, _ = score_onnx(artifact, fitted.x_holdout)
        parity = float(np.max(np.abs(exported.astype(np.float64) - native)))
        if parity > request.parity_tolerance:
            raise ParityError(parity, request.parity_tolerance)
        digest = store_artifact(artifact, artifact_root)
        span.set_attribute("leaim.artifact_digest", digest)
        trace_id, _ = span_ids(span)

    return TrainingResult(
        job_id=request.job_id,
        model_name=request.model_name,
        model_version=request.model_version,
        artifact_digest=digest,
        artifact_bytes=len(artifact),
        metrics=_metrics(fitted.y_train, fitted.y_holdout, native, parity),
        feature_names=list(request.feature_names),
        worker=worker,
        duration_ms=(time.perf_counter() - started) * 1000,
        trace_id=trace_id,
    )


def export_onnx(model: LinearModel, model_name: str, model_version: str, feature_names: list[str]) -> bytes:
    """Serialize `model` as an ONNX graph with `score` [N] and per-feature log-odds `contributions` [N, F].

    The graph is built by hand so that contributions are exactly the terms summed into the log-odds,
    and so that the same model always serializes to the same bytes.
    """
    width = len(feature_names)
    initializers = [
        numpy_helper.from_array(model.mean.astype(np.float32), "mean"),
        numpy_helper.from_array(model.scale.astype(np.float32), "scale"),
        numpy_helper.from_array(model.coef.astype(np.float32), "coef"),
        numpy_helper.from_array(np.array(model.intercept, dtype=np.float32), "intercept"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "feature_axis"),
    ]
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "mean"], ["centered"], name="center"),
        helper.make_node("Div", ["centered", "scale"], ["standardized"], name="standardize"),
        helper.make_node("Mul", ["standardized", "coef"], [CONTRIBUTIONS_OUTPUT], name="contribute"),
        helper.make_node("ReduceSum", [CONTRIBUTIONS_OUTPUT, "feature_axis"], ["weighted"], keepdims=0, name="sum"),
        helper.make_node("Add", ["weighted", "intercept"], ["logit"], name="bias"),
        helper.make_node("Sigmoid", ["logit"], [SCORE_OUTPUT], name="sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        name=f"{model_name}-{model_version}",
        inputs=[helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", width])],
        outputs=[
            helper.make_tensor_value_info(SCORE_OUTPUT, TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info(CONTRIBUTIONS_OUTPUT, TensorProto.FLOAT, ["N", width]),
        ],
        initializer=initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name=PRODUCER_NAME,
        producer_version=PRODUCER_VERSION,
        ir_version=ONNX_IR_VERSION,
    )
    helper.set_model_props(
        proto,
        {
            METADATA_MODEL_NAME: model_name,
            METADATA_MODEL_VERSION: model_version,
            METADATA_FEATURE_NAMES: json.dumps(list(feature_names)),
            METADATA_FAMILY: "logistic_regression",
        },
    )
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString(deterministic=True))


def score_onnx(artifact: bytes, features: NDArray[np.float64]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Scores and contributions of `features` under the serialized model, on the CPU."""
    session = ort.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    score, contributions = session.run([SCORE_OUTPUT, CONTRIBUTIONS_OUTPUT], {INPUT_NAME: features.astype(np.float32)})
    return np.asarray(score), np.asarray(contributions)


def store_artifact(artifact: bytes, artifact_root: Path) -> str:
    """Write `artifact` to `artifact_root/<sha256>.onnx` atomically and return the sha256 (hex)."""
    digest = hashlib.sha256(artifact).hexdigest()
    artifact_root.mkdir(parents=True, exist_ok=True)
    target = artifact_root / artifact_filename(digest)
    descriptor, temporary = tempfile.mkstemp(dir=artifact_root, prefix=f".{digest}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(artifact)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def _split(
    features: NDArray[np.float64], labels: NDArray[np.int64], request: TrainingRequest
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 2:
        raise InvalidRequestError(f"need at least 2 rows of each label, got {counts[0]} of 0 and {counts[1]} of 1")
    try:
        parts = train_test_split(
            features, labels, test_size=request.holdout_fraction, random_state=request.seed, stratify=labels
        )
    except ValueError as error:
        raise InvalidRequestError(f"cannot split a stratified holdout: {error}") from error
    x_train, x_holdout, y_train, y_holdout = parts
    return x_train, x_holdout, y_train, y_holdout


def _classifier_params(params: dict[str, float | int | str | bool]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(_PARAM_TYPES))
    if unknown:
        raise InvalidRequestError(f"unsupported logistic_regression params {unknown}; allowed {sorted(_PARAM_TYPES)}")
    parsed: dict[str, Any] = {}
    for name, value in params.items():
        expected = _PARAM_TYPES[name]
        # Integers are accepted where floats are expected (C=1); booleans are ints to Python but never valid here.
        accepted = (float, int) if expected is float else (expected,)
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise InvalidRequestError(f"param {name} must be {expected.__name__}, got {value!r}")
        parsed[name] = expected(value)
    if "class_weight" in parsed and parsed["class_weight"] not in _CLASS_WEIGHTS:
        raise InvalidRequestError(f"param class_weight must be one of {sorted(_CLASS_WEIGHTS)}")
    return parsed


def _metrics(
    y_train: NDArray[np.int64], y_holdout: NDArray[np.int64], scores: NDArray[np.float64], parity: float
) -> TrainingMetrics:
    predicted = (scores >= DECISION_THRESHOLD).astype(np.int64)
    return TrainingMetrics(
        auc=float(roc_auc_score(y_holdout, scores)),
        precision=float(precision_score(y_holdout, predicted, zero_division=0)),
        recall=float(recall_score(y_holdout, predicted, zero_division=0)),
        threshold=DECISION_THRESHOLD,
        train_rows=len(y_train),
        holdout_rows=len(y_holdout),
        positive_rate=float(predicted.mean()),
        parity_max_abs_diff=parity,
    )
