"""The trainer: a reproducible, verified ONNX export of a logistic model, and its refusals."""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gpu_workers.exceptions import DeadlineExceededError, InvalidRequestError, ParityError
from gpu_workers.training.trainer import fit, score_onnx, train

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from contracts.training.v1 import TrainingRequest


def test_artifact_is_stored_under_its_sha256_with_metadata(trained) -> None:
    result = trained.result
    path = trained.root / f"{result.artifact_digest}.onnx"
    data = path.read_bytes()

    assert hashlib.sha256(data).hexdigest() == result.artifact_digest
    assert len(data) == result.artifact_bytes
    assert sorted(p.name for p in trained.root.iterdir()) == [path.name]
    model = onnx.load_from_string(data)
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert metadata["model_name"] == "card-fraud"
    assert metadata["model_version"] == "1.0.0"
    assert json.loads(metadata["feature_names"]) == [f"f{i}" for i in range(8)]
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["score", "contributions"]


def test_same_request_gives_byte_identical_artifact(
    trained, tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    again = train(make_training_request(), tmp_path, worker="other")

    assert again.artifact_digest == trained.result.artifact_digest
    assert (tmp_path / f"{again.artifact_digest}.onnx").read_bytes() == (
        trained.root / f"{again.artifact_digest}.onnx"
    ).read_bytes()


def test_different_seed_gives_different_artifact(
    trained, tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    other = train(make_training_request(seed=8), tmp_path, worker="test")

    assert other.artifact_digest != trained.result.artifact_digest


def test_metrics_describe_a_good_model_on_a_stratified_holdout(trained, dataset) -> None:
    metrics = trained.result.metrics

    assert metrics.holdout_rows == 400
    assert metrics.train_rows == 1600
    assert metrics.auc > 0.85
    assert 0.5 < metrics.precision <= 1.0
    assert 0.5 < metrics.recall <= 1.0
    assert metrics.threshold == 0.5
    assert 0.0 < metrics.positive_rate < 1.0
    assert metrics.parity_max_abs_diff <= 1e-5
    fitted = fit(trained.request)
    assert fitted.y_holdout.mean() == pytest.approx(dataset.labels.mean(), abs=0.01)


def test_exported_scores_match_scikit_learn_on_the_holdout(trained) -> None:
    fitted = fit(trained.request)
    artifact = (trained.root / f"{trained.result.artifact_digest}.onnx").read_bytes()

    scores, contributions = score_onnx(artifact, fitted.x_holdout)

    native = fitted.predict(fitted.x_holdout)
    assert np.max(np.abs(scores - native)) == pytest.approx(trained.result.metrics.parity_max_abs_diff)
    assert np.max(np.abs(scores - native)) <= 1e-5
    logits = fitted.classifier.decision_function(fitted.scaler.transform(fitted.x_holdout))
    assert np.allclose(contributions.sum(axis=1) + fitted.classifier.intercept_[0], logits, atol=1e-4)


def test_parity_beyond_tolerance_is_refused_with_the_measured_difference(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    with pytest.raises(ParityError) as raised:
        train(make_training_request(parity_tolerance=1e-12), tmp_path, worker="test")

    assert 1e-12 < raised.value.max_abs_diff <= 1e-5
    assert raised.value.tolerance == 1e-12
    assert list(tmp_path.iterdir()) == []


def test_expired_deadline_is_refused(tmp_path: Path, make_training_request: Callable[..., TrainingRequest]) -> None:
    request = make_training_request(deadline_unix_ms=int(time.time() * 1000) - 1)

    with pytest.raises(DeadlineExceededError):
        train(request, tmp_path, worker="test")


@pytest.mark.parametrize(
    "params",
    [{"penalty": "l1"}, {"C": "strong"}, {"max_iter": True}, {"class_weight": "heavy"}],
)
def test_unsupported_params_are_refused(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest], params: dict[str, object]
) -> None:
    with pytest.raises(InvalidRequestError):
        train(make_training_request(params=params), tmp_path, worker="test")


def test_a_label_with_fewer_than_two_rows_is_refused(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest], dataset
) -> None:
    labels = [0] * len(dataset.labels)
    labels[0] = 1

    with pytest.raises(InvalidRequestError, match="at least 2 rows of each label"):
        train(make_training_request(labels=labels), tmp_path, worker="test")


def test_training_span_continues_the_callers_trace(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    carrier: dict[str, str] = {}
    with provider.get_tracer("caller").start_as_current_span("training-job") as caller:
        propagate.inject(carrier)

    result = train(make_training_request(trace_context=carrier), tmp_path, worker="test", tracer_provider=provider)

    assert result.trace_id == format(caller.get_span_context().trace_id, "032x")
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "worker.train"]
    assert span.parent is not None
    assert span.parent.span_id == caller.get_span_context().span_id
    assert span.attributes is not None
    assert span.attributes["leaim.artifact_digest"] == result.artifact_digest
