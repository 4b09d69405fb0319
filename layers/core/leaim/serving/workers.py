"""Worker clients: the local worker host processes over HTTP, or the deployed Modal apps.

Both honour the `WorkerClient` contract: every call returns within its `timeout_s` (raising
WorkerTimeoutError), and every other failure is a WorkerError. Nothing here imports onnxruntime,
scikit-learn or the worker code; `modal` is imported only by the Modal client, when it is built.
"""

from __future__ import annotations

import http.client
import io
import itertools
import json
import logging
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from contracts.inference.v1 import InferenceResult
from leaim.exceptions import ConfigurationError, WorkerError, WorkerTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from contracts.inference.v1 import InferenceRequest
    from contracts.model.v1 import SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult
    from leaim.config import Settings
    from leaim.serving.ports import WorkerClient

# Names the worker apps deploy under (gpu_workers.settings); repeated here because Lambda code never
# imports the worker package.
INFERENCE_CLASS_NAME = "InferenceWorker"
TRAINING_FUNCTION_NAME = "train"
ARTIFACTS_VOLUME_NAME = "leaim-artifacts"
MANIFEST_SUFFIX = ".manifest.json"
SCORE_PATH = "/inference/score"
TRAIN_PATH = "/training/train"
MANIFESTS_PATH = "/artifacts/manifests"
DEADLINE_ERROR_TYPE = "DeadlineExceededError"
# How long a container's init waits for its first lookup of the Modal inference class.
MODAL_PREPARE_TIMEOUT_S = 5.0

logger = logging.getLogger(__name__)

Result = TypeVar("Result", bound=BaseModel)
Answer = TypeVar("Answer")


class LocalWorkerClient:
    """Calls local worker host processes (`embedded.emulation.workers`), round-robin, one HTTP call each."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ConfigurationError("LocalWorkerClient needs at least one worker URL")
        self._targets = [_parse_url(url) for url in urls]
        self._next = itertools.cycle(range(len(self._targets)))
        self._lock = threading.Lock()

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score a batch on the next worker process; see `WorkerClient.score`."""
        body = {"artifact_digest": request.artifact_digest, "request": request.model_dump(mode="json")}
        return _parse(InferenceResult, self._post(SCORE_PATH, body, timeout_s), f"score {request.request_id}")

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train on the next worker process; see `WorkerClient.train`."""
        # Imported here, as in the Modal client: the decision functions never train, nor pay for it at init.
        from contracts.training.v2 import TrainingResult

        return _parse(TrainingResult, self._post(TRAIN_PATH, request.model_dump(mode="json"), timeout_s), "train")

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        """Store a signed manifest beside its artifact through one worker process (they share one store).

        The worker verifies the signature with its trusted keys; a refusal (bad signature, or another
        manifest already stored for the artifact) is a WorkerError.
        """
        self._post(MANIFESTS_PATH, signed.model_dump(mode="json"), timeout_s)

    def _post(self, path: str, body: dict[str, Any], timeout_s: float) -> Any:
        with self._lock:
            host, port = self._targets[next(self._next)]
        where = f"worker http://{host}:{port}{path}"
        deadline = time.monotonic() + timeout_s
        connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
        try:
            connection.connect()
            # Connecting used part of the budget; the rest bounds sending and every read of the answer.
            if connection.sock is not None:
                connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            status, data = response.status, response.read()
        except TimeoutError as error:
            raise WorkerTimeoutError(f"{where} did not answer within {timeout_s:.3f} s") from error
        except (OSError, http.client.HTTPException) as error:
            raise WorkerError(f"{where} failed: {type(error).__name__}: {error}") from error
        finally:
            connection.close()
        try:
            payload = json.loads(data)
        except ValueError as error:
            raise WorkerError(f"{where} answered {status} with a body that is not JSON") from error
        if status != http.client.OK:
            error_type, message = _error_of(payload)
            failure = WorkerTimeoutError if error_type == DEADLINE_ERROR_TYPE else WorkerError
            raise failure(f"{where} answered {status} {error_type}: {message}")
        return payload


class ModalWorkerClient:
    """Calls the deployed Modal apps; every call runs in its own thread and is abandoned at its deadline."""

    def __init__(self, inference_app: str, training_app: str, environment: str) -> None:
        self.inference_app = inference_app
        self.training_app = training_app
        self.environment = environment
        self._lock = threading.Lock()
        self._inference_cls: Any = None
        self._train_function: Any = None

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score a batch through the batched `InferenceWorker.score`; see `WorkerClient.score`."""
        payload = request.model_dump(mode="json")

        def call() -> Any:
            worker = self._inference()(artifact_digest=request.artifact_digest)
            return worker.score.remote(payload)

        what = f"{self.inference_app}.{INFERENCE_CLASS_NAME}.score {request.request_id}"
        output = _call_with_deadline(call, timeout_s, what)
        error = output.get("error") if isinstance(output, dict) else None
        if error is not None:
            error_type, message = _error_of(output)
            failure = WorkerTimeoutError if error_type == DEADLINE_ERROR_TYPE else WorkerError
            raise failure(f"{what} refused: {error_type}: {message}")
        return _parse(InferenceResult, output, what)

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train through the Modal function `train`; see `WorkerClient.train`."""
        from contracts.training.v2 import TrainingResult

        payload = request.model_dump(mode="json")
        what = f"{self.training_app}.{TRAINING_FUNCTION_NAME} {request.job_id}"
        output = _call_with_deadline(lambda: self._train().remote(payload), timeout_s, what)
        return _parse(TrainingResult, output, what)

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        """Write a signed manifest beside its artifact in the `leaim-artifacts` volume, never replacing one.

        The same manifest again is accepted (a retried job); a different one for the same artifact is a
        WorkerError. The inference worker verifies the manifest when it loads the artifact.
        """
        name = f"{signed.manifest.artifact_digest}{MANIFEST_SUFFIX}"
        data = signed.model_dump_json().encode()

        def call() -> None:
            import modal

            volume = modal.Volume.from_name(ARTIFACTS_VOLUME_NAME, environment_name=self.environment)
            try:
                with volume.batch_upload(force=False) as batch:
                    batch.put_file(io.BytesIO(data), f"/{name}")
            except FileExistsError:
                stored = b"".join(volume.read_file(f"/{name}"))
                if type(signed).model_validate_json(stored) != signed:
                    raise WorkerError(f"{name} already holds another manifest for this artifact") from None

        _call_with_deadline(call, timeout_s, f"{ARTIFACTS_VOLUME_NAME} volume upload of {name}")

    def prepare(self, timeout_s: float) -> None:
        """Import the Modal client, look up the inference class and connect to it, at init rather than in a request.

        Importing `modal` takes about half a second and the first lookup a round trip to Modal: inside a
        decision's deadline either would turn a healthy worker into a fallback. A lookup that fails or takes
        longer than `timeout_s` is logged and left to the first call, which retries it within its own deadline.
        """
        cls = self._inference()
        try:
            _call_with_deadline(cls.hydrate, timeout_s, f"lookup of {self.inference_app}.{INFERENCE_CLASS_NAME}")
        except WorkerError as error:
            logger.warning("the Modal inference class is not connected yet: %s", error)

    def _inference(self) -> Any:
        with self._lock:
            if self._inference_cls is None:
                import modal

                self._inference_cls = modal.Cls.from_name(
                    self.inference_app, INFERENCE_CLASS_NAME, environment_name=self.environment
                )
            return self._inference_cls

    def _train(self) -> Any:
        with self._lock:
            if self._train_function is None:
                import modal

                self._train_function = modal.Function.from_name(
                    self.training_app, TRAINING_FUNCTION_NAME, environment_name=self.environment
                )
            return self._train_function


def build_worker_client(settings: Settings) -> WorkerClient:
    """The worker client `settings.worker_backend` selects."""
    if settings.worker_backend == "modal":
        client = ModalWorkerClient(settings.inference_app, settings.training_app, settings.modal_environment)
        client.prepare(MODAL_PREPARE_TIMEOUT_S)
        return client
    urls = [url.strip() for url in settings.local_worker_urls.split(",") if url.strip()]
    return LocalWorkerClient(urls)


def _call_with_deadline(call: Callable[[], Answer], timeout_s: float, what: str) -> Answer:
    future: Future[Answer] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except Exception as error:
            future.set_exception(error)

    # A daemon thread, not an executor: a call abandoned at its deadline may hang for a minute when Modal
    # is unreachable, and must neither block the caller nor keep the interpreter alive at exit.
    threading.Thread(target=run, name="modal-call", daemon=True).start()
    try:
        return future.result(timeout=timeout_s)
    except TimeoutError as error:
        raise WorkerTimeoutError(f"{what} did not answer within {timeout_s:.3f} s") from error
    except Exception as error:
        if _is_modal_timeout(error):
            raise WorkerTimeoutError(f"{what} timed out in Modal: {error}") from error
        raise WorkerError(f"{what} failed: {type(error).__name__}: {error}") from error


def _is_modal_timeout(error: Exception) -> bool:
    import modal.exception

    return isinstance(error, modal.exception.TimeoutError)


def _parse(model: type[Result], payload: Any, what: str) -> Result:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise WorkerError(f"{what}: malformed {model.__name__}: {error}") from error


def _error_of(payload: Any) -> tuple[str, str]:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("type", "WorkerError")), str(error.get("message", ""))
    return "WorkerError", "no error details"


def _parse_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConfigurationError(f"worker URL must look like http://127.0.0.1:8788, got {url!r}")
    return parts.hostname, parts.port or 80
