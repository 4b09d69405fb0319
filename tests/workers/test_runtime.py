"""The inference runtime: verified loading, batched scoring, reasons, deadlines and trace propagation."""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gpu_workers.exceptions import (
    ArtifactNotFoundError,
    ArtifactVerificationError,
    DeadlineExceededError,
    InvalidRequestError,
    ModelMismatchError,
)
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.training.trainer import fit

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from contracts.inference.v1 import InferenceRequest


@pytest.fixture
def runtime(trained) -> ModelRuntime:
    return ModelRuntime.load(trained.root, trained.result.artifact_digest, worker="test-worker")


def test_load_reads_model_identity_from_metadata(runtime: ModelRuntime, trained) -> None:
    assert runtime.digest == trained.result.artifact_digest
    assert (runtime.model_name, runtime.model_version) == ("card-fraud", "1.0.0")
    assert runtime.feature_names == trained.request.feature_names
    assert runtime.providers[-1] == "CPUExecutionProvider"


def test_tampered_artifact_is_refused(trained, tmp_path: Path) -> None:
    digest = trained.result.artifact_digest
    target = tmp_path / f"{digest}.onnx"
    shutil.copyfile(trained.root / f"{digest}.onnx", target)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))

    with pytest.raises(ArtifactVerificationError) as raised:
        ModelRuntime.load(tmp_path, digest)

    assert raised.value.expected == digest
    assert raised.value.actual != digest
    assert digest in str(raised.value)
    assert raised.value.actual in str(raised.value)


def test_missing_artifact_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError):
        ModelRuntime.load(tmp_path, "0" * 64)


def test_a_digest_that_is_not_sha256_hex_is_refused_before_touching_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError):
        ModelRuntime.load(tmp_path, "../../etc/passwd")


def test_scores_and_contributions_equal_a_numpy_recomputation_of_the_sklearn_model(
    runtime: ModelRuntime, trained, dataset, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    fitted = fit(trained.request)
    rows = dataset.features[100:110]
    request = make_inference_request(rows=rows.tolist(), top_reasons=8)

    (result,) = runtime.score_many([request])

    standardized = (rows - fitted.scaler.mean_) / fitted.scaler.scale_
    contributions = standardized * fitted.classifier.coef_[0]
    scores = 1 / (1 + np.exp(-(contributions.sum(axis=1) + fitted.classifier.intercept_[0])))
    assert np.allclose(scores, fitted.predict(rows), atol=1e-12)
    for row, expected_score, expected in zip(result.results, scores, contributions, strict=True):
        assert row.score == pytest.approx(expected_score, abs=1e-5)
        by_feature = {c.feature: c.contribution for c in row.contributions}
        assert by_feature == pytest.approx(dict(zip(runtime.feature_names, expected, strict=True)), abs=1e-5)


def test_reasons_are_the_largest_contributions_by_absolute_value(
    runtime: ModelRuntime, dataset, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    rows = dataset.features[200:205]
    everything = runtime.score_many([make_inference_request(rows=rows.tolist(), top_reasons=8)])[0]
    top = runtime.score_many([make_inference_request(rows=rows.tolist(), top_reasons=2)])[0]

    for full, short, row in zip(everything.results, top.results, rows, strict=True):
        magnitudes = [abs(c.contribution) for c in full.contributions]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert short.contributions == full.contributions[:2]
        for reason in short.contributions:
            assert reason.value == row[runtime.feature_names.index(reason.feature)]


def test_a_batch_equals_one_by_one_and_reports_its_size(
    runtime: ModelRuntime, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    requests = [
        make_inference_request("a", rows=slice(0, 3)),
        make_inference_request("b", rows=slice(3, 4)),
        make_inference_request("c", rows=slice(4, 9)),
    ]

    batched = runtime.score_many(requests)
    alone = [runtime.score_many([request])[0] for request in requests]

    assert [r.request_id for r in batched] == ["a", "b", "c"]
    assert [r.batch_size for r in batched] == [9, 9, 9]
    assert [r.batch_size for r in alone] == [3, 1, 5]
    for together, single in zip(batched, alone, strict=True):
        assert together.results == single.results
        assert together.worker == "test-worker"


def test_an_expired_deadline_is_refused(
    runtime: ModelRuntime, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    request = make_inference_request(deadline_unix_ms=int(time.time() * 1000) - 1)

    with pytest.raises(DeadlineExceededError):
        runtime.score_many([request])


@pytest.mark.parametrize(
    "override",
    [
        {"artifact_digest": "f" * 64},
        {"feature_names": [f"g{i}" for i in range(8)]},
        {"model_version": "2.0.0"},
    ],
)
def test_a_request_for_another_model_is_refused(
    runtime: ModelRuntime, make_inference_request: Callable[..., InferenceRequest], override: dict[str, object]
) -> None:
    with pytest.raises(ModelMismatchError):
        runtime.score_many([make_inference_request(**override)])


def test_non_finite_values_are_refused(
    runtime: ModelRuntime, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    with pytest.raises(InvalidRequestError, match="non-finite"):
        runtime.score_many([make_inference_request(rows=[[float("nan")] + [0.0] * 7])])


def test_each_request_gets_a_span_in_its_callers_trace(
    trained, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = ModelRuntime.load(trained.root, trained.result.artifact_digest, tracer_provider=provider)
    callers, carriers = [], []
    for name in ("decision-1", "decision-2"):
        carrier: dict[str, str] = {}
        with provider.get_tracer("caller").start_as_current_span(name) as caller:
            propagate.inject(carrier)
        callers.append(caller.get_span_context())
        carriers.append(carrier)

    results = runtime.score_many(
        [make_inference_request(f"r{i}", trace_context=carrier) for i, carrier in enumerate(carriers)]
    )

    spans = {s.context.span_id: s for s in exporter.get_finished_spans() if s.name == "worker.score"}
    assert len(spans) == 2
    for result, caller in zip(results, callers, strict=True):
        assert result.trace_id == format(caller.trace_id, "032x")
        span = spans[int(result.span_id, 16)]
        assert span.parent is not None
        assert span.parent.span_id == caller.span_id
        assert span.attributes is not None
        assert span.attributes["leaim.batch_size"] == 6


def test_without_a_tracer_provider_ids_are_still_well_formed(
    runtime: ModelRuntime, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    (result,) = runtime.score_many([make_inference_request()])

    assert len(result.trace_id) == 32
    assert len(result.span_id) == 16
