"""The Modal app definitions, inspected offline, and their `.local()` paths on real artifacts."""

from __future__ import annotations

import importlib.metadata
import shutil
import time
from typing import TYPE_CHECKING

import modal
import pytest

from contracts.inference.v1 import InferenceResult
from contracts.training.v2 import TrainingResult
from embedded.emulation.template import load_template
from gpu_workers import settings
from gpu_workers.artifacts import store_manifest
from gpu_workers.inference import modal_app as inference_app
from gpu_workers.training import modal_app as training_app
from tests.support.paths import TEMPLATE

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from contracts.inference.v1 import InferenceRequest
    from contracts.training.v2 import TrainingRequest

pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally.*:UserWarning")


def test_inference_app_declares_gpu_volume_and_batched_score() -> None:
    info = inference_app.InferenceWorker(artifact_digest="0" * 64).score.info()

    assert inference_app.app.name == "leaim-inference"
    assert isinstance(inference_app.InferenceWorker, modal.Cls)
    assert inference_app.InferenceWorker.__name__ == settings.INFERENCE_CLASS_NAME
    assert info.gpus == [(settings.GPU, 1)]
    assert info.method_names == ["score"]
    assert info.batching_info is not None
    assert (info.batching_info.max_batch_size, info.batching_info.wait_ms) == (
        settings.MAX_BATCH_SIZE,
        settings.BATCH_WAIT_MS,
    )
    assert info.timeout == settings.INFERENCE_TIMEOUT_S
    assert {path: mount.name for path, mount in info.volumes.items()} == {"/artifacts": "leaim-artifacts"}
    assert isinstance(inference_app.image, modal.Image)


def test_inference_app_reads_its_trusted_keys_from_the_manifest_keys_secret() -> None:
    info = inference_app.InferenceWorker(artifact_digest="0" * 64).score.info()

    assert len(info.secrets) == 1
    assert settings.MANIFEST_KEYS_SECRET_NAME in info.secrets[0]


def test_training_app_declares_gpu_volume_and_timeout() -> None:
    info = training_app.train.info()

    assert training_app.app.name == "leaim-training"
    assert isinstance(training_app.train, modal.Function)
    assert getattr(training_app, settings.TRAINING_FUNCTION_NAME) is training_app.train
    assert info.gpus == [(settings.GPU, 1)]
    assert info.batching_info is None
    assert info.timeout == settings.TRAINING_TIMEOUT_S
    # A training call the Lambda function abandons at its own timeout must not run on for long after it.
    template = load_template(TEMPLATE)
    assert template.functions["TrainingQueueFunction"].timeout_s > settings.TRAINING_TIMEOUT_S
    assert {path: mount.name for path, mount in info.volumes.items()} == {"/artifacts": "leaim-artifacts"}
    assert isinstance(training_app.image, modal.Image)


def test_images_pin_the_versions_the_tests_run_against() -> None:
    for package, pinned in [
        ("cryptography", settings.CRYPTOGRAPHY_VERSION),
        ("numpy", settings.NUMPY_VERSION),
        ("onnx", settings.ONNX_VERSION),
        ("scikit-learn", settings.SCIKIT_LEARN_VERSION),
        ("pydantic", settings.PYDANTIC_VERSION),
        ("opentelemetry-api", settings.OPENTELEMETRY_VERSION),
    ]:
        assert importlib.metadata.version(package) == pinned, package
    assert f"onnxruntime-gpu=={settings.ONNXRUNTIME_VERSION}" in settings.INFERENCE_PACKAGES
    assert f"onnxruntime=={settings.ONNXRUNTIME_VERSION}" in settings.TRAINING_PACKAGES
    assert f"cryptography=={settings.CRYPTOGRAPHY_VERSION}" in settings.INFERENCE_PACKAGES
    assert all("==" in requirement for requirement in settings.INFERENCE_PACKAGES + settings.TRAINING_PACKAGES)


def test_artifact_root_defaults_to_the_volume_mount(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEAIM_ARTIFACT_ROOT", raising=False)
    assert str(settings.artifact_root()) == settings.DEFAULT_ARTIFACT_ROOT == "/artifacts"
    monkeypatch.setenv("LEAIM_ARTIFACT_ROOT", str(tmp_path))
    assert settings.artifact_root() == tmp_path


def test_trusted_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEAIM_MANIFEST_PUBLIC_KEYS", raising=False)
    assert settings.manifest_public_keys() == []
    monkeypatch.setenv("LEAIM_MANIFEST_PUBLIC_KEYS", " a2V5MQ== ,a2V5Mg==,")
    assert settings.manifest_public_keys() == ["a2V5MQ==", "a2V5Mg=="]


def test_local_inference_worker_scores_a_real_artifact_and_isolates_bad_items(
    trained,
    public_keys_env: str,
    monkeypatch: pytest.MonkeyPatch,
    make_inference_request: Callable[..., InferenceRequest],
) -> None:
    monkeypatch.setenv("LEAIM_ARTIFACT_ROOT", str(trained.root))
    monkeypatch.setenv("LEAIM_MANIFEST_PUBLIC_KEYS", public_keys_env)
    worker = inference_app.InferenceWorker(artifact_digest=trained.result.artifact_digest)
    good = make_inference_request("good", rows=slice(0, 4)).model_dump(mode="json")
    late = make_inference_request("late", deadline_unix_ms=int(time.time() * 1000) - 1).model_dump(mode="json")
    other = make_inference_request("other", artifact_digest="f" * 64).model_dump(mode="json")
    malformed = {**good, "rows": [[1.0]]}

    outputs = worker.score.local([good, late, malformed, other])

    result = InferenceResult.model_validate(outputs[0])
    assert (result.request_id, result.batch_size, len(result.results)) == ("good", 4, 4)
    assert [output.get("error", {}).get("type") for output in outputs[1:]] == [
        "DeadlineExceededError",
        "InvalidRequestError",
        "ModelMismatchError",
    ]
    assert all(output["error"]["message"] for output in outputs[1:])


def test_local_inference_worker_reports_a_missing_manifest_until_it_is_published(
    trained,
    tmp_path: Path,
    public_keys_env: str,
    monkeypatch: pytest.MonkeyPatch,
    make_inference_request: Callable[..., InferenceRequest],
) -> None:
    monkeypatch.setenv("LEAIM_ARTIFACT_ROOT", str(tmp_path))
    monkeypatch.setenv("LEAIM_MANIFEST_PUBLIC_KEYS", public_keys_env)
    digest = trained.result.artifact_digest
    shutil.copyfile(trained.root / f"{digest}.onnx", tmp_path / f"{digest}.onnx")
    worker = inference_app.InferenceWorker(artifact_digest=digest)
    payload = make_inference_request().model_dump(mode="json")

    (missing,) = worker.score.local([payload])
    store_manifest(trained.signed, tmp_path)
    (found,) = worker.score.local([payload])

    assert missing["error"]["type"] == "ArtifactNotFoundError"
    assert "manifest" in missing["error"]["message"]
    assert InferenceResult.model_validate(found).artifact_digest == digest


def test_local_inference_worker_refuses_a_tampered_artifact_for_every_request(
    trained,
    tmp_path: Path,
    public_keys_env: str,
    monkeypatch: pytest.MonkeyPatch,
    make_inference_request: Callable[..., InferenceRequest],
) -> None:
    monkeypatch.setenv("LEAIM_ARTIFACT_ROOT", str(tmp_path))
    monkeypatch.setenv("LEAIM_MANIFEST_PUBLIC_KEYS", public_keys_env)
    digest = trained.result.artifact_digest
    data = bytearray((trained.root / f"{digest}.onnx").read_bytes())
    data[-1] ^= 0x01
    (tmp_path / f"{digest}.onnx").write_bytes(bytes(data))
    store_manifest(trained.signed, tmp_path)
    worker = inference_app.InferenceWorker(artifact_digest=digest)

    outputs = worker.score.local([make_inference_request(f"r{i}").model_dump(mode="json") for i in range(3)])

    assert [output["error"]["type"] for output in outputs] == ["ArtifactVerificationError"] * 3
    assert all(digest in output["error"]["message"] for output in outputs)


def test_local_inference_worker_without_trusted_keys_refuses_to_load(
    trained, monkeypatch: pytest.MonkeyPatch, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    monkeypatch.setenv("LEAIM_ARTIFACT_ROOT", str(trained.root))
    monkeypatch.delenv("LEAIM_MANIFEST_PUBLIC_KEYS", raising=False)
    worker = inference_app.InferenceWorker(artifact_digest=trained.result.artifact_digest)

    (output,) = worker.score.local([make_inference_request().model_dump(mode="json")])

    assert output["error"]["type"] == "ManifestVerificationError"
    assert "no trusted manifest keys" in output["error"]["message"]


def test_local_train_function_stores_the_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_training_request: Callable[..., TrainingRequest], trained
) -> None:
    monkeypatch.setenv("LEAIM_ARTIFACT_ROOT", str(tmp_path))

    output = training_app.train.local(make_training_request().model_dump(mode="json"))

    result = TrainingResult.model_validate(output)
    assert result.artifact_digest == trained.result.artifact_digest
    assert [p.name for p in tmp_path.iterdir()] == [f"{result.artifact_digest}.onnx"]
