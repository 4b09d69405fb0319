"""The inference runtime: signed and verified loading, batched scoring, reasons, deadlines and tracing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.manifest.v1 import AdverseAction, ReasonStatement
from gpu_workers.exceptions import (
    ArtifactNotFoundError,
    ArtifactVerificationError,
    DeadlineExceededError,
    InvalidRequestError,
    ManifestVerificationError,
    ModelMismatchError,
)
from gpu_workers.inference.runtime import ModelRuntime
from gpu_workers.inference.signatures import key_id, load_public_keys
from gpu_workers.training.trainer import fit
from leaim.domain.manifests import ManifestCatalog
from leaim.orchestration.adverse import principal_reasons
from tests.support.signing import manifest_for, sign

CARD_FRAUD = ManifestCatalog.from_directory(None).get("card_fraud")

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from contracts.inference.v1 import InferenceRequest
    from contracts.model.v1 import SignedManifest


@pytest.fixture
def runtime(trained, public_keys) -> ModelRuntime:
    return ModelRuntime.load(trained.root, trained.result.artifact_digest, public_keys, worker="test-worker")


def _store(tmp_path: Path, trained, signed: SignedManifest | None, artifact: bytes | None = None) -> str:
    """Lay out an artifact store in `tmp_path`: the trained artifact (or `artifact`) and `signed`, if any."""
    digest = trained.result.artifact_digest
    (tmp_path / f"{digest}.onnx").write_bytes(
        artifact if artifact is not None else (trained.root / f"{digest}.onnx").read_bytes()
    )
    if signed is not None:
        (tmp_path / f"{digest}.manifest.json").write_text(signed.model_dump_json())
    return digest


def test_load_reads_model_identity_from_the_verified_manifest(runtime: ModelRuntime, trained) -> None:
    assert runtime.digest == trained.result.artifact_digest
    assert (runtime.model_name, runtime.model_version) == ("card-fraud", "1.0.0")
    assert runtime.feature_names == trained.request.feature_names
    assert runtime.providers[-1] == "CPUExecutionProvider"


def test_a_correctly_signed_manifest_in_a_fresh_store_loads(trained, tmp_path: Path, public_keys) -> None:
    digest = _store(tmp_path, trained, trained.signed)

    assert ModelRuntime.load(tmp_path, digest, public_keys).digest == digest


def test_tampered_artifact_is_refused(trained, tmp_path: Path, public_keys) -> None:
    data = bytearray((trained.root / f"{trained.result.artifact_digest}.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    digest = _store(tmp_path, trained, trained.signed, artifact=bytes(data))

    with pytest.raises(ArtifactVerificationError) as raised:
        ModelRuntime.load(tmp_path, digest, public_keys)

    assert raised.value.expected == digest
    assert raised.value.actual != digest
    assert digest in str(raised.value)
    assert raised.value.actual in str(raised.value)


def test_a_missing_manifest_is_not_found_and_named(trained, tmp_path: Path, public_keys) -> None:
    digest = _store(tmp_path, trained, None)

    with pytest.raises(ArtifactNotFoundError, match=rf"no manifest {digest}\.manifest\.json"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_a_manifest_signed_by_another_key_is_refused(trained, tmp_path: Path, public_keys) -> None:
    digest = _store(tmp_path, trained, sign(trained.signed.manifest, Ed25519PrivateKey.generate()))

    with pytest.raises(ManifestVerificationError, match="signed by an untrusted key"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_a_manifest_forged_under_the_trusted_key_id_is_refused(trained, tmp_path: Path, public_keys) -> None:
    forged = sign(trained.signed.manifest, Ed25519PrivateKey.generate())
    digest = _store(tmp_path, trained, forged.model_copy(update={"key_id": trained.signed.key_id}))

    with pytest.raises(ManifestVerificationError, match="signature does not verify"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_a_manifest_edited_after_signing_is_refused(trained, tmp_path: Path, public_keys) -> None:
    manifest = trained.signed.manifest
    edited = manifest.model_copy(update={"metrics": manifest.metrics.model_copy(update={"auc": 0.999})})
    digest = _store(tmp_path, trained, trained.signed.model_copy(update={"manifest": edited}))

    with pytest.raises(ManifestVerificationError, match="signature does not verify"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_a_rejected_version_is_refused(trained, tmp_path: Path, public_keys, signing_key) -> None:
    digest = _store(tmp_path, trained, sign(manifest_for(trained.request, trained.result, "rejected"), signing_key))

    with pytest.raises(ManifestVerificationError, match="is rejected"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_a_manifest_of_another_artifact_is_refused(trained, tmp_path: Path, public_keys, signing_key) -> None:
    other = manifest_for(trained.request, trained.result, artifact_digest="e" * 64)
    digest = _store(tmp_path, trained, sign(other, signing_key))

    with pytest.raises(ManifestVerificationError, match=r"describes artifact e{64}"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_an_artifact_that_disagrees_with_its_manifest_is_refused(
    trained, tmp_path: Path, public_keys, signing_key
) -> None:
    renamed = manifest_for(trained.request, trained.result, feature_names=[f"g{i}" for i in range(8)])
    digest = _store(tmp_path, trained, sign(renamed, signing_key))

    with pytest.raises(ModelMismatchError, match="feature_names"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_a_manifest_that_is_not_a_signed_manifest_is_refused(trained, tmp_path: Path, public_keys) -> None:
    digest = _store(tmp_path, trained, None)
    (tmp_path / f"{digest}.manifest.json").write_text('{"manifest": {}}')

    with pytest.raises(ManifestVerificationError, match=r"not a model\.v1 signed manifest"):
        ModelRuntime.load(tmp_path, digest, public_keys)


def test_without_trusted_keys_every_load_is_refused(trained) -> None:
    with pytest.raises(ManifestVerificationError, match="no trusted manifest keys"):
        ModelRuntime.load(trained.root, trained.result.artifact_digest, {})


def test_a_digest_that_is_not_sha256_hex_is_refused_before_touching_files(tmp_path: Path, public_keys) -> None:
    with pytest.raises(InvalidRequestError):
        ModelRuntime.load(tmp_path, "../../etc/passwd", public_keys)


def test_trusted_keys_are_read_from_base64_and_addressed_by_key_id(public_keys_env: str, public_keys) -> None:
    keys = load_public_keys([public_keys_env])

    assert list(keys) == list(public_keys)
    assert key_id(keys[next(iter(keys))]) == next(iter(public_keys))


@pytest.mark.parametrize("entry", ["not base64!", "AAAA", ""])
def test_a_malformed_trusted_key_is_refused(entry: str) -> None:
    with pytest.raises(ManifestVerificationError, match="trusted key #1"):
        load_public_keys([entry])


def test_a_tree_model_scores_with_contributions_that_sum_to_its_log_odds(
    trained_trees, public_keys, dataset, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    result = trained_trees.result
    runtime = ModelRuntime.load(trained_trees.root, result.artifact_digest, public_keys)
    model = fit(trained_trees.request).model
    rows = dataset.features[:20]
    request = make_inference_request(
        rows=rows.tolist(), top_reasons=8, model_version=result.model_version, artifact_digest=result.artifact_digest
    )

    (scored,) = runtime.score_many([request])

    logits = model.classifier.decision_function(rows.astype(np.float32))
    for row, logit in zip(scored.results, logits, strict=True):
        assert row.score == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-5)
        assert sum(c.contribution for c in row.contributions) + model.bias == pytest.approx(logit, abs=1e-5)


def test_scores_and_contributions_equal_a_numpy_recomputation_of_the_sklearn_model(
    runtime: ModelRuntime, trained, dataset, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    model = fit(trained.request).model
    rows = dataset.features[100:110]
    request = make_inference_request(rows=rows.tolist(), top_reasons=8)

    (result,) = runtime.score_many([request])

    standardized = (rows - model.scaler.mean_) / model.scaler.scale_
    contributions = standardized * model.classifier.coef_[0]
    scores = 1 / (1 + np.exp(-(contributions.sum(axis=1) + model.classifier.intercept_[0])))
    assert np.allclose(scores, model.predict(rows), atol=1e-12)
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
    trained, public_keys, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runtime = ModelRuntime.load(trained.root, trained.result.artifact_digest, public_keys, tracer_provider=provider)
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


@pytest.mark.parametrize("family", ["logistic_regression", "gradient_boosted_trees"])
def test_principal_reasons_are_the_scored_factors_that_raised_the_score_most(
    family: str, trained, trained_trees, public_keys, dataset, make_inference_request
) -> None:
    model = trained if family == "logistic_regression" else trained_trees
    result = model.result
    runtime = ModelRuntime.load(model.root, result.artifact_digest, public_keys)
    statements = {
        name: ReasonStatement(code=f"R{index}", statement=f"{name} stood out.")
        for index, name in enumerate(runtime.feature_names)
    }
    manifest = CARD_FRAUD.model_copy(
        update={
            "adverse_action": AdverseAction(
                outcomes=["declined"], features=statements, creditor="Bank", contact="Write to us."
            )
        }
    )
    rows = dataset.features[:40]
    request = make_inference_request(
        rows=rows.tolist(), top_reasons=8, model_version=result.model_version, artifact_digest=result.artifact_digest
    )
    for row in runtime.score_many([request])[0].results:
        contributions = [(c.feature, c.contribution) for c in row.contributions]
        reasons = principal_reasons(manifest, "declined", contributions=contributions) or []
        raised = sorted((c for c in contributions if c[1] > 0), key=lambda c: -c[1])[:4]
        assert [(r.factor, r.contribution) for r in reasons] == [(f, pytest.approx(c, abs=1e-6)) for f, c in raised]
        assert [r.rank for r in reasons] == list(range(1, len(reasons) + 1))
