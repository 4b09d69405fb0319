"""Worker clients: backend selection, import hygiene, and deadlines against an unreachable Modal."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from gpu_workers import settings as worker_settings
from gpu_workers.model_format import manifest_filename
from leaim.config import Settings
from leaim.exceptions import ConfigurationError, WorkerError, WorkerTimeoutError
from leaim.serving import workers
from leaim.serving.workers import LocalWorkerClient, ModalWorkerClient, build_worker_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts.inference.v1 import InferenceRequest
    from contracts.training.v2 import TrainingRequest


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_modal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-not-a-real-token")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-not-a-real-secret")
    monkeypatch.setenv("MODAL_SERVER_URL", f"http://127.0.0.1:{_closed_port()}")


def test_client_module_imports_no_worker_runtime_and_no_modal() -> None:
    probe = (
        "import sys, leaim.serving.workers\n"
        "heavy = sorted(m for m in ('onnxruntime', 'onnx', 'sklearn', 'modal', 'gpu_workers') if m in sys.modules)\n"
        "print(','.join(heavy))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert completed.stdout.strip() == ""


def test_client_names_match_the_deployed_worker_names() -> None:
    assert workers.INFERENCE_CLASS_NAME == worker_settings.INFERENCE_CLASS_NAME
    assert workers.TRAINING_FUNCTION_NAME == worker_settings.TRAINING_FUNCTION_NAME
    assert workers.ARTIFACTS_VOLUME_NAME == worker_settings.ARTIFACTS_VOLUME_NAME
    assert f"{'a' * 64}{workers.MANIFEST_SUFFIX}" == manifest_filename("a" * 64)
    defaults = Settings()
    assert (defaults.inference_app, defaults.training_app) == (
        worker_settings.INFERENCE_APP_NAME,
        worker_settings.TRAINING_APP_NAME,
    )


def test_build_worker_client_follows_the_backend_setting() -> None:
    local = build_worker_client(
        Settings.from_env({"LEAIM_LOCAL_WORKER_URLS": "http://127.0.0.1:9001, http://127.0.0.1:9002"})
    )
    cloud = build_worker_client(Settings.from_env({"LEAIM_WORKER_BACKEND": "modal", "LEAIM_MODAL_ENVIRONMENT": "dev"}))

    assert isinstance(local, LocalWorkerClient)
    assert isinstance(cloud, ModalWorkerClient)
    assert (cloud.inference_app, cloud.training_app, cloud.environment) == ("leaim-inference", "leaim-training", "dev")


@pytest.mark.parametrize("urls", [[], ["https://127.0.0.1:1"], ["127.0.0.1:8788"]])
def test_local_client_refuses_bad_urls(urls: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        LocalWorkerClient(urls)


def test_local_client_reports_a_refused_connection(make_inference_request: Callable[..., InferenceRequest]) -> None:
    client = LocalWorkerClient([f"http://127.0.0.1:{_closed_port()}"])

    with pytest.raises(WorkerError, match="ConnectionRefusedError"):
        client.score(make_inference_request(), timeout_s=5)


def test_local_client_times_out_on_a_server_that_never_answers(
    make_inference_request: Callable[..., InferenceRequest],
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = LocalWorkerClient([f"http://127.0.0.1:{silent.getsockname()[1]}"])
        started = time.monotonic()

        with pytest.raises(WorkerTimeoutError):
            client.score(make_inference_request(), timeout_s=0.3)

        assert time.monotonic() - started < 10


def test_local_client_rejects_a_malformed_answer(make_inference_request: Callable[..., InferenceRequest]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client = LocalWorkerClient([f"http://127.0.0.1:{server.getsockname()[1]}"])

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b'HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\n{"results": []}')

        responder = threading.Thread(target=answer)
        responder.start()
        with pytest.raises(WorkerError, match="malformed InferenceResult"):
            client.score(make_inference_request(), timeout_s=5)
        responder.join()


def test_modal_score_against_an_unreachable_modal_fails_within_its_deadline(
    unreachable_modal: None, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    client = ModalWorkerClient("leaim-inference", "leaim-training", "main")
    started = time.monotonic()

    with pytest.raises(WorkerError):
        client.score(make_inference_request(), timeout_s=1.0)

    assert time.monotonic() - started < 10


def test_modal_train_against_an_unreachable_modal_fails_within_its_deadline(
    unreachable_modal: None, make_training_request: Callable[..., TrainingRequest]
) -> None:
    client = ModalWorkerClient("leaim-inference", "leaim-training", "main")
    started = time.monotonic()

    with pytest.raises(WorkerError):
        client.train(make_training_request(), timeout_s=1.0)

    assert time.monotonic() - started < 10


def test_modal_manifest_upload_against_an_unreachable_modal_fails_within_its_deadline(
    unreachable_modal: None, trained
) -> None:
    client = ModalWorkerClient("leaim-inference", "leaim-training", "main")
    started = time.monotonic()

    with pytest.raises(WorkerError, match="leaim-artifacts volume upload"):
        client.publish_manifest(trained.signed, timeout_s=1.0)

    assert time.monotonic() - started < 10
