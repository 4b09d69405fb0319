"""Worker clients: backend selection, import hygiene, deadlines against an unreachable Modal, and the local
client's breaker per worker against a real worker host process beside a dead one."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from embedded.emulation.workers import LocalWorkerPool
from gpu_workers import settings as worker_settings
from gpu_workers.model_format import manifest_filename
from leaim.config import Settings
from leaim.exceptions import CircuitOpenError, ConfigurationError, WorkerError, WorkerTimeoutError
from leaim.serving import workers
from leaim.serving.breaker import BreakerBoard, BreakerState
from leaim.serving.workers import LocalWorkerClient, ModalWorkerClient, build_worker_client

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from contracts.inference.v1 import InferenceRequest
    from contracts.training.v2 import TrainingRequest


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ManualClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def keys_env(public_keys_env: str) -> dict[str, str]:
    return {"LEAIM_MANIFEST_PUBLIC_KEYS": public_keys_env}


@pytest.fixture(scope="module")
def live_worker(trained, keys_env: dict[str, str]) -> Iterator[str]:
    """The URL of one real worker host process serving the trained model."""
    with LocalWorkerPool(trained.root, processes=1, env=keys_env) as pool:
        yield pool.urls[0]


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


def test_local_client_routes_around_a_dead_worker_and_takes_it_back_once_it_answers(
    trained, keys_env: dict[str, str], live_worker: str, make_inference_request: Callable[..., InferenceRequest]
) -> None:
    clock = ManualClock()
    dead_port = _closed_port()
    dead = f"http://127.0.0.1:{dead_port}"
    board = BreakerBoard(failure_threshold=3, reset_s=10.0, monotonic=clock)
    client = LocalWorkerClient([dead, live_worker], board)

    # Every call is answered: one sent to the dead worker moves on to the live one within its timeout.
    answered = [client.score(make_inference_request(f"r-{index}"), timeout_s=30) for index in range(8)]
    assert [result.request_id for result in answered] == [f"r-{index}" for index in range(8)]
    assert len({result.worker for result in answered}) == 1
    assert board.for_target(dead).state is BreakerState.OPEN
    assert board.for_target(live_worker).state is BreakerState.CLOSED

    # After the pause one call probes the dead worker, finds it still refusing, and is answered by the live one.
    clock.t += 10.0
    assert board.for_target(dead).state is BreakerState.HALF_OPEN
    for index in range(2):
        client.score(make_inference_request(f"r-probe-{index}"), timeout_s=30)
    assert board.for_target(dead).state is BreakerState.OPEN

    # A worker is back on the dead URL (as the supervisor restarts one on its port): the next probe takes it back.
    with LocalWorkerPool(trained.root, processes=1, base_port=dead_port, env=keys_env):
        clock.t += 10.0
        back = [client.score(make_inference_request(f"r-back-{index}"), timeout_s=30) for index in range(4)]
        assert board.for_target(dead).state is BreakerState.CLOSED
        assert len({result.worker for result in back}) == 2


class _Answering(ThreadingHTTPServer):
    """A worker stand-in that answers every POST with `status` and an error body."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests += 1
                body = json.dumps({"error": {"type": "ArtifactNotFoundError", "message": "no such artifact"}})
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def answering() -> Iterator[Callable[[int], _Answering]]:
    servers: list[_Answering] = []

    def start(status: int) -> _Answering:
        server = _Answering(status)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_worker_answering_5xx_opens_its_circuit_but_one_answering_4xx_does_not(
    answering: Callable[[int], _Answering], make_inference_request: Callable[..., InferenceRequest]
) -> None:
    board = BreakerBoard(failure_threshold=2, reset_s=10.0, monotonic=ManualClock())
    failing, refusing = answering(500), answering(404)
    client = LocalWorkerClient([failing.url, refusing.url], board)
    for index in range(6):
        with pytest.raises(WorkerError, match="ArtifactNotFoundError"):
            client.score(make_inference_request(f"r-{index}"), timeout_s=30)
    # The worker that failed twice was skipped after that; the one that refused a request is healthy.
    assert (failing.requests, refusing.requests) == (2, 4)
    assert board.for_target(failing.url).state is BreakerState.OPEN
    assert board.for_target(refusing.url).state is BreakerState.CLOSED


def test_with_every_workers_circuit_open_a_call_fails_without_connecting(
    answering: Callable[[int], _Answering], make_inference_request: Callable[..., InferenceRequest]
) -> None:
    board = BreakerBoard(failure_threshold=1, reset_s=10.0, monotonic=ManualClock())
    failing = answering(503)
    client = LocalWorkerClient([failing.url], board)
    with pytest.raises(WorkerError, match="503"):
        client.score(make_inference_request("r-1"), timeout_s=30)
    with pytest.raises(CircuitOpenError):
        client.score(make_inference_request("r-2"), timeout_s=30)
    assert failing.requests == 1


def test_a_call_that_reached_a_worker_is_not_sent_again_elsewhere(
    answering: Callable[[int], _Answering], make_inference_request: Callable[..., InferenceRequest]
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        other = answering(404)
        client = LocalWorkerClient([f"http://127.0.0.1:{silent.getsockname()[1]}", other.url])

        with pytest.raises(WorkerTimeoutError):
            client.score(make_inference_request(), timeout_s=0.3)

    assert other.requests == 0
