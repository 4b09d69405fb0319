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
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from contracts.inference.v1 import InferenceResult
from leaim.config import Settings
from leaim.exceptions import CircuitOpenError, ConfigurationError, WorkerError, WorkerTimeoutError
from leaim.serving.breaker import BreakerBoard

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from contracts.inference.v1 import InferenceRequest
    from contracts.model.v1 import SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult
    from leaim.serving.ports import WorkerClient

    # A call handed to one of BoundedCalls' threads, with the future its answer goes to.
    _Job = tuple[Callable[[], Any], Future[Any]]

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
    """Calls local worker host processes (`embedded.emulation.workers`), round-robin, one HTTP call each.

    Each worker URL has its own circuit breaker (from `breakers`; by default one following the
    `LEAIM_BREAKER_*` defaults): a worker whose breaker is open is skipped until its pause has passed and a
    probe call finds it back. A worker that refuses the connection never saw the request, so the call moves
    on to the next worker within the same timeout; a worker that was sent the request and failed or did not
    answer in time fails the call, as a retry could run it twice and would not fit in the time left.
    """

    def __init__(self, urls: Sequence[str], breakers: BreakerBoard | None = None) -> None:
        if not urls:
            raise ConfigurationError("LocalWorkerClient needs at least one worker URL")
        self._targets = [_parse_url(url) for url in urls]
        self._breakers = breakers or BreakerBoard.from_settings(Settings(), time.monotonic)
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
        deadline = time.monotonic() + timeout_s
        data = json.dumps(body)
        refusals: list[str] = []
        for host, port in self._rotation():
            where = f"worker http://{host}:{port}{path}"
            breaker = self._breakers.for_target(f"http://{host}:{port}")
            if not breaker.allow():
                continue
            try:
                status, payload = _exchange(host, port, path, data, deadline, where)
            except _WorkerUnreachableError as refusal:
                breaker.record_failure()
                refusals.append(str(refusal))
                if time.monotonic() >= deadline:
                    break
                continue
            except BaseException:
                breaker.record_failure()
                raise
            # An answer below 500 is the worker's verdict on the request (an unknown artifact, a bad
            # signature): the worker itself is healthy. A 5xx, a deadline it missed, or no answer is not.
            if status < http.client.INTERNAL_SERVER_ERROR:
                breaker.record_success()
            else:
                breaker.record_failure()
            if status != http.client.OK:
                error_type, message = _error_of(payload)
                failure = WorkerTimeoutError if error_type == DEADLINE_ERROR_TYPE else WorkerError
                raise failure(f"{where} answered {status} {error_type}: {message}")
            return payload
        if refusals:
            raise WorkerError("no worker took the call: " + "; ".join(refusals))
        raise CircuitOpenError(f"circuit open for each of the {len(self._targets)} workers")

    def _rotation(self) -> list[tuple[str, int]]:
        """Every worker once, starting with the next one in round-robin order."""
        with self._lock:
            first = next(self._next)
        return self._targets[first:] + self._targets[:first]


class _WorkerUnreachableError(WorkerError):
    """The worker could not be connected to: the request was never sent, so another worker may take it."""

    code = "worker_unreachable"


def _exchange(host: str, port: int, path: str, data: str, deadline: float, where: str) -> tuple[int, Any]:
    """POST `data` to one worker before `deadline`: its status and JSON answer."""
    timeout_s = max(deadline - time.monotonic(), 0.001)
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        try:
            connection.connect()
        except TimeoutError as error:
            raise WorkerTimeoutError(f"{where} did not accept a connection within {timeout_s:.3f} s") from error
        except OSError as error:
            raise _WorkerUnreachableError(f"{where} failed: {type(error).__name__}: {error}") from error
        # Connecting used part of the budget; the rest bounds sending and every read of the answer.
        if connection.sock is not None:
            connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        status, raw = response.status, response.read()
    except TimeoutError as error:
        raise WorkerTimeoutError(f"{where} did not answer within {timeout_s:.3f} s") from error
    except (OSError, http.client.HTTPException) as error:
        raise WorkerError(f"{where} failed: {type(error).__name__}: {error}") from error
    finally:
        connection.close()
    try:
        return status, json.loads(raw)
    except ValueError as error:
        raise WorkerError(f"{where} answered {status} with a body that is not JSON") from error


class ModalWorkerClient:
    """Calls the deployed Modal apps; every call runs in its own thread and is abandoned at its deadline.

    `calls` bounds the calls under way at once (by default `LEAIM_MODAL_MAX_INFLIGHT_CALLS` of them);
    past it a call fails at once with a WorkerError, which a decision turns into its fallback.
    """

    def __init__(
        self, inference_app: str, training_app: str, environment: str, calls: BoundedCalls | None = None
    ) -> None:
        self.inference_app = inference_app
        self.training_app = training_app
        self.environment = environment
        self._calls = calls or BoundedCalls(Settings().modal_max_inflight_calls)
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
        output = self._calls.run(call, timeout_s, what)
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
        output = self._calls.run(lambda: self._train().remote(payload), timeout_s, what)
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

        self._calls.run(call, timeout_s, f"{ARTIFACTS_VOLUME_NAME} volume upload of {name}")

    def prepare(self, timeout_s: float) -> None:
        """Import the Modal client, look up the inference class and connect to it, at init rather than in a request.

        Importing `modal` takes about half a second and the first lookup a round trip to Modal: inside a
        decision's deadline either would turn a healthy worker into a fallback. A lookup that fails or takes
        longer than `timeout_s` is logged and left to the first call, which retries it within its own deadline.
        """
        cls = self._inference()
        try:
            self._calls.run(cls.hydrate, timeout_s, f"lookup of {self.inference_app}.{INFERENCE_CLASS_NAME}")
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
        client = ModalWorkerClient(
            settings.inference_app,
            settings.training_app,
            settings.modal_environment,
            BoundedCalls(settings.modal_max_inflight_calls),
        )
        client.prepare(MODAL_PREPARE_TIMEOUT_S)
        return client
    urls = [url.strip() for url in settings.local_worker_urls.split(",") if url.strip()]
    return LocalWorkerClient(urls, BreakerBoard.from_settings(settings, time.monotonic))


class BoundedCalls:
    """Runs each call on one of at most `limit` threads and waits for it until its deadline.

    A call abandoned at its deadline may hang for a minute when Modal is unreachable: it keeps its thread
    until it ends by itself, and only then does the thread take another call. With every thread taken, a
    call fails at once with a WorkerError, so an outage under steady traffic holds at most `limit` threads
    (and the calls' memory) however long it lasts, and the path is back as soon as the hung calls end.
    Daemon threads, not an executor's: a hung call must not keep the interpreter alive at exit.
    """

    def __init__(self, limit: int, thread_name: str = "modal-call") -> None:
        if limit < 1:
            raise ConfigurationError("BoundedCalls needs a limit of at least one call")
        self.limit = limit
        self.thread_name = thread_name
        self._idle: list[SimpleQueue[_Job]] = []
        self._threads = 0
        self._lock = threading.Lock()

    def run(self, call: Callable[[], Answer], timeout_s: float, what: str) -> Answer:
        """`call()`'s answer within `timeout_s`, else WorkerTimeoutError; WorkerError when it fails or is refused."""
        inbox = self._free_thread()
        if inbox is None:
            raise WorkerError(
                f"{what} refused: {self.limit} calls are still running in this container, "
                "those abandoned at their deadline included"
            )
        future: Future[Answer] = Future()
        inbox.put((call, future))
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError as error:
            raise WorkerTimeoutError(f"{what} did not answer within {timeout_s:.3f} s") from error
        except Exception as error:
            if _is_modal_timeout(error):
                raise WorkerTimeoutError(f"{what} timed out in Modal: {error}") from error
            raise WorkerError(f"{what} failed: {type(error).__name__}: {error}") from error

    def _free_thread(self) -> SimpleQueue[_Job] | None:
        """The inbox of an idle thread, of a new one while fewer than `limit` run, or None."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._threads >= self.limit:
                return None
            self._threads += 1
        inbox: SimpleQueue[_Job] = SimpleQueue()
        try:
            threading.Thread(target=self._serve, args=(inbox,), name=self.thread_name, daemon=True).start()
        except BaseException:
            with self._lock:
                self._threads -= 1
            raise
        return inbox

    def _serve(self, inbox: SimpleQueue[_Job]) -> None:
        while True:
            call, future = inbox.get()
            try:
                future.set_result(call())
            except Exception as error:
                future.set_exception(error)
            except BaseException:
                with self._lock:
                    self._threads -= 1
                raise
            with self._lock:
                self._idle.append(inbox)


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
