"""The GPU workers on one machine: the same Modal objects, run with `.local()` in separate processes.

`python -m embedded.emulation.workers --port P --artifact-root DIR` serves, on 127.0.0.1:

- `POST /inference/score` with `{"artifact_digest": ..., "request": <inference.v1 request>}`: keeps one
  `InferenceWorker(artifact_digest=...)` per digest, so its `@modal.enter` runs once as in a container,
  and gathers concurrent requests for that digest into one call of its batched `score`, as
  `@modal.batched` does in the cloud.
- `POST /training/train` with a `training.v2` request: runs the Modal function `train` locally.
- `POST /artifacts/manifests` with a `model.v1` signed manifest: verifies it with the trusted keys of
  `$LEAIM_MANIFEST_PUBLIC_KEYS` and stores it beside its artifact, where the inference worker reads it;
  storing the same manifest again is fine, a different one for the same artifact is a conflict.
- `GET /health`: 200 when the host can score (every batcher is running and none is stuck in one batch
  for longer than `BATCH_STALL_S`), 503 with the problems otherwise.

Answers are JSON: the result with status 200, or `{"error": {"type": ..., "message": ...}}` with a 4xx
or 5xx status. `LocalWorkerPool` starts such processes for the local stack and tests and supervises
them: a process that exits, or misses its health deadline too many times in a row, is killed and
replaced on the same port, so callers keep their URLs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Generic, TypeVar

from pydantic import ValidationError

from contracts.model.v1 import SignedManifest
from gpu_workers.exceptions import (
    ArtifactNotFoundError,
    ArtifactVerificationError,
    DeadlineExceededError,
    GpuWorkerError,
    InvalidRequestError,
    ManifestConflictError,
    ManifestVerificationError,
    ModelMismatchError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

logger = logging.getLogger(__name__)

ARTIFACT_ROOT_ENV = "LEAIM_ARTIFACT_ROOT"
HOST = "127.0.0.1"
READY_PREFIX = "LEAIM_WORKER_LISTENING "
MAX_BODY_BYTES = 64 * 1024 * 1024
# A batch running longer than this has wedged its batcher: scoring a small batch takes milliseconds.
BATCH_STALL_S = 30.0
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

# The error types a worker reports, mapped to the HTTP status the host answers with.
ERROR_STATUS: dict[str, HTTPStatus] = {
    InvalidRequestError.code: HTTPStatus.BAD_REQUEST,
    ArtifactNotFoundError.code: HTTPStatus.NOT_FOUND,
    ModelMismatchError.code: HTTPStatus.CONFLICT,
    ArtifactVerificationError.code: HTTPStatus.UNPROCESSABLE_ENTITY,
    ManifestVerificationError.code: HTTPStatus.UNPROCESSABLE_ENTITY,
    ManifestConflictError.code: HTTPStatus.CONFLICT,
    DeadlineExceededError.code: HTTPStatus.GATEWAY_TIMEOUT,
}

Item = TypeVar("Item")
Output = TypeVar("Output")


class MicroBatcher(Generic[Item, Output]):
    """Hands concurrently submitted items to `handle` as lists, like `@modal.batched` does in Modal.

    A batch starts with the first waiting item and closes when it holds `max_batch_size` items or
    `wait_ms` have passed since it started; `handle` returns one output per item, in order.
    """

    def __init__(self, handle: Callable[[list[Item]], list[Output]], max_batch_size: int, wait_ms: int) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._handle = handle
        self._max_batch_size = max_batch_size
        self._wait_s = wait_ms / 1000
        self._queue: queue.Queue[tuple[Item, Future[Output]]] = queue.Queue()
        self._busy_since: float | None = None
        self._thread = threading.Thread(target=self._serve, name="micro-batcher", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return self._queue.qsize()

    def problem(self, stall_after_s: float) -> str | None:
        """Why this batcher cannot take a batch now: its thread ended, or one batch has run too long."""
        if not self._thread.is_alive():
            return "its batcher thread has ended"
        busy_since = self._busy_since
        if busy_since is not None and time.monotonic() - busy_since > stall_after_s:
            return f"one batch has run for more than {stall_after_s:g} s"
        return None

    def submit(self, item: Item) -> Output:
        """Queue `item`, wait for its batch to be handled, and return its output or raise the batch's error."""
        future: Future[Output] = Future()
        self._queue.put((item, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            batch = [self._queue.get()]
            closes_at = time.monotonic() + self._wait_s
            while len(batch) < self._max_batch_size:
                remaining = closes_at - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            self._busy_since = time.monotonic()
            try:
                self._run(batch)
            finally:
                self._busy_since = None

    def _run(self, batch: list[tuple[Item, Future[Output]]]) -> None:
        try:
            outputs = self._handle([item for item, _ in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"batch handler returned {len(outputs)} outputs for {len(batch)} inputs")
        except Exception as error:
            for _, future in batch:
                future.set_exception(error)
            return
        for (_, future), output in zip(batch, outputs, strict=True):
            future.set_result(output)


class WorkerHost:
    """The worker processes' state: one Modal class instance and one batcher per artifact digest.

    `publish_manifest` verifies and stores a signed manifest in the artifact store the workers share.
    """

    def __init__(
        self,
        inference_worker: Any,
        train_function: Any,
        publish_manifest: Callable[[SignedManifest], None],
        max_batch_size: int,
        wait_ms: int,
        stall_after_s: float = BATCH_STALL_S,
    ) -> None:
        self._inference_worker = inference_worker
        self._train_function = train_function
        self._publish_manifest = publish_manifest
        self._max_batch_size = max_batch_size
        self._wait_ms = wait_ms
        self._stall_after_s = stall_after_s
        self._batchers: dict[str, MicroBatcher[dict[str, Any], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def health_problems(self) -> list[str]:
        """Why this host cannot score now, per artifact digest; empty when it can."""
        with self._lock:
            batchers = list(self._batchers.items())
        problems = ((digest, batcher.problem(self._stall_after_s)) for digest, batcher in batchers)
        return [f"{digest}: {problem}" for digest, problem in problems if problem is not None]

    def score(self, artifact_digest: str, request: dict[str, Any]) -> dict[str, Any]:
        """Score one request dict through the digest's batched `score`; returns its output entry."""
        return self._batcher(artifact_digest).submit(request)

    def train(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run the training function locally on one request dict."""
        result: dict[str, Any] = self._train_function.local(request)
        return result

    def publish(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate a `model.v1` signed manifest, then verify and store it; answers what was stored."""
        signed = SignedManifest.model_validate(body)
        self._publish_manifest(signed)
        return {"artifact_digest": signed.manifest.artifact_digest, "stored": True}

    def _batcher(self, artifact_digest: str) -> MicroBatcher[dict[str, Any], dict[str, Any]]:
        with self._lock:
            batcher = self._batchers.get(artifact_digest)
            if batcher is None:
                # One instance per digest is one "container": Modal runs its @modal.enter on the first call.
                instance = self._inference_worker(artifact_digest=artifact_digest)
                batcher = MicroBatcher(instance.score.local, self._max_batch_size, self._wait_ms)
                self._batchers[artifact_digest] = batcher
            return batcher


class WorkerHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose listen backlog holds a burst of concurrent callers."""

    # The default backlog of 5 resets connections when many callers arrive at once, as batching invites.
    request_queue_size = 128
    daemon_threads = True


class _HostError(Exception):
    def __init__(self, status: HTTPStatus, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


def make_handler(host: WorkerHost) -> type[BaseHTTPRequestHandler]:
    """An HTTP request handler class bound to `host`."""

    class WorkerRequestHandler(BaseHTTPRequestHandler):
        server_version = "leaim-worker-host"

        def do_GET(self) -> None:
            if self.path != "/health":
                self._send_error(_HostError(HTTPStatus.NOT_FOUND, "NotFound", f"no route GET {self.path}"))
                return
            problems = host.health_problems()
            status = HTTPStatus.SERVICE_UNAVAILABLE if problems else HTTPStatus.OK
            self._send(status, {"status": "unhealthy" if problems else "ok", "pid": os.getpid(), "problems": problems})

        def do_POST(self) -> None:
            try:
                body = self._read_json()
                if self.path == "/inference/score":
                    self._send_output(self._score(body))
                elif self.path == "/training/train":
                    self._send(HTTPStatus.OK, host.train(body))
                elif self.path == "/artifacts/manifests":
                    self._send(HTTPStatus.OK, host.publish(body))
                else:
                    raise _HostError(HTTPStatus.NOT_FOUND, "NotFound", f"no route POST {self.path}")
            except _HostError as error:
                self._send_error(error)
            except Exception as error:
                self._send_error(_from_exception(error))

        def _score(self, body: dict[str, Any]) -> dict[str, Any]:
            digest = body.get("artifact_digest")
            request = body.get("request")
            if not isinstance(digest, str) or not _DIGEST.match(digest):
                raise _HostError(HTTPStatus.BAD_REQUEST, "InvalidRequestError", "artifact_digest must be a sha256 hex")
            if not isinstance(request, dict):
                raise _HostError(HTTPStatus.BAD_REQUEST, "InvalidRequestError", "request must be a JSON object")
            return host.score(digest, request)

        def _read_json(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                raise _HostError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "InvalidRequestError", "body too large")
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError as error:
                raise _HostError(HTTPStatus.BAD_REQUEST, "InvalidRequestError", f"body is not JSON: {error}") from error
            if not isinstance(body, dict):
                raise _HostError(HTTPStatus.BAD_REQUEST, "InvalidRequestError", "body must be a JSON object")
            return body

        def _send_output(self, output: dict[str, Any]) -> None:
            error = output.get("error")
            if isinstance(error, dict):
                error_type = str(error.get("type", "WorkerError"))
                status = ERROR_STATUS.get(error_type, HTTPStatus.INTERNAL_SERVER_ERROR)
                self._send_error(_HostError(status, error_type, str(error.get("message", ""))))
            else:
                self._send(HTTPStatus.OK, output)

        def _send_error(self, error: _HostError) -> None:
            self._send(error.status, {"error": {"type": error.error_type, "message": str(error)}})

        def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The caller's deadline passed and it hung up: its answer has nowhere to go.
                logger.info("caller of %s hung up before the answer (status %d)", self.path, status)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    return WorkerRequestHandler


def _from_exception(error: Exception) -> _HostError:
    if isinstance(error, ValidationError):
        return _HostError(HTTPStatus.BAD_REQUEST, InvalidRequestError.code, str(error))
    # An error no worker raises on purpose is named by its class, for whoever reads the host's log.
    error_type = error.code if isinstance(error, GpuWorkerError) else type(error).__name__
    status = ERROR_STATUS.get(error_type)
    if status is None:
        logger.exception("worker call failed")
        status = HTTPStatus.INTERNAL_SERVER_ERROR
    return _HostError(status, error_type, str(error))


def serve(port: int, artifact_root: Path, watch_stdin: bool = False) -> None:
    """Serve the workers on 127.0.0.1:`port` (0 picks a free port) until interrupted or terminated.

    Prints `LEAIM_WORKER_LISTENING <port>` on stdout once listening. With `watch_stdin`, exits when
    stdin closes, so a process started by `LocalWorkerPool` never outlives its parent. Trusted manifest
    keys are read once from `$LEAIM_MANIFEST_PUBLIC_KEYS`; a malformed key stops the host at start.
    """
    os.environ[ARTIFACT_ROOT_ENV] = str(artifact_root)
    # The Modal apps read the artifact root from the environment, so they need no mounted volume here.
    warnings.filterwarnings("ignore", message=r".*executing locally.*Volume.*", category=UserWarning)
    from gpu_workers import settings
    from gpu_workers.artifacts import publish_manifest
    from gpu_workers.inference.modal_app import InferenceWorker
    from gpu_workers.inference.signatures import load_public_keys
    from gpu_workers.training.modal_app import train

    public_keys = load_public_keys(settings.manifest_public_keys())

    def publish(signed: SignedManifest) -> None:
        publish_manifest(signed, artifact_root, public_keys)

    host = WorkerHost(InferenceWorker, train, publish, settings.MAX_BATCH_SIZE, settings.BATCH_WAIT_MS)
    server = WorkerHTTPServer((HOST, port), make_handler(host))
    signal.signal(signal.SIGTERM, lambda _signum, _frame: threading.Thread(target=server.shutdown).start())
    if watch_stdin:
        threading.Thread(target=_shutdown_on_eof, args=(server,), name="stdin-watch", daemon=True).start()
    print(f"{READY_PREFIX}{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _shutdown_on_eof(server: ThreadingHTTPServer) -> None:
    # Raw reads on the descriptor: a daemon thread blocked inside sys.stdin's buffered reader would hold
    # its lock and abort the interpreter at exit.
    while os.read(sys.stdin.fileno(), 4096):
        continue
    server.shutdown()


@dataclass(frozen=True, slots=True)
class Supervision:
    """How a `LocalWorkerPool` watches its processes.

    Every `interval_s` each process is checked: one that exited (a `kill -9` included) is replaced at
    once; one that does not answer `GET /health` with 200 within `health_timeout_s`, `misses_allowed`
    times in a row (hung, stopped, or unable to score), is killed and replaced. With the defaults a dead
    process is replaced within half a second of dying and a hung one within about five seconds, plus
    the replacement's own start.
    """

    interval_s: float = 0.5
    health_timeout_s: float = 1.0
    misses_allowed: int = 3

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.health_timeout_s <= 0 or self.misses_allowed < 1:
            raise ValueError("supervision needs a positive interval and health timeout and misses_allowed >= 1")


@dataclass(frozen=True, slots=True)
class Replacement:
    """One worker process the supervisor replaced: where, why, and how long the replacement took."""

    url: str
    reason: str
    old_pid: int
    new_pid: int
    seconds: float


class _Slot:
    """One worker's place in the pool: its port (kept across replacements) and its current process."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.misses = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


class LocalWorkerPool:
    """Worker host processes on 127.0.0.1, supervised, with controls to make them fail or stall on purpose.

    The processes inherit this process's environment with `env` laid over it, e.g. the trusted
    manifest keys in `LEAIM_MANIFEST_PUBLIC_KEYS`. Unless `supervision` is None, one thread per process
    replaces it on the same port when it dies or hangs (see `Supervision`); each replacement is kept in
    `replacements` and logged as one line of JSON.
    """

    def __init__(
        self,
        artifact_root: Path,
        processes: int = 2,
        base_port: int | None = None,
        startup_timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
        supervision: Supervision | None = Supervision(),
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.artifact_root = artifact_root
        self.processes = processes
        self.base_port = base_port
        self.startup_timeout_s = startup_timeout_s
        self.env = dict(env or {})
        self.supervision = supervision
        self._slots: list[_Slot] = []
        self._watchers: list[threading.Thread] = []
        self._replacements: list[Replacement] = []
        # Guards each slot's process and the pause: a replacement never starts while paused or stopping.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._paused = False
        self._log: BinaryIO | None = None

    @property
    def urls(self) -> list[str]:
        """Base URLs of the running processes, e.g. `http://127.0.0.1:8788`; a replacement keeps its URL."""
        return [slot.url for slot in self._slots]

    @property
    def pids(self) -> list[int]:
        """Process ids of the current processes, in the order of `urls`."""
        with self._lock:
            return [slot.process.pid for slot in self._slots]

    @property
    def replacements(self) -> list[Replacement]:
        """The replacements made since the pool started, oldest first."""
        with self._lock:
            return list(self._replacements)

    def start(self) -> None:
        """Spawn the processes, wait until each answers `/health`, then start supervising them."""
        if self._slots:
            raise RuntimeError("the worker pool is already started")
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        self._log = (self.artifact_root.parent / "workers.log").open("ab")
        self._stopping.clear()
        try:
            for index in range(self.processes):
                port = 0 if self.base_port is None else self.base_port + index
                self._slots.append(_Slot(self._spawn(port), port))
            deadline = time.monotonic() + self.startup_timeout_s
            for slot in self._slots:
                slot.port = _read_port(slot.process, deadline)
            for slot in self._slots:
                _wait_healthy(slot.url, deadline, self._stopping)
        except BaseException:
            self.stop()
            raise
        if self.supervision is not None:
            for slot in self._slots:
                watcher = threading.Thread(
                    target=self._watch, args=(slot, self.supervision), name=f"worker-watch-{slot.port}", daemon=True
                )
                watcher.start()
                self._watchers.append(watcher)

    def stop(self) -> None:
        """Stop supervising, then terminate every process (killing any that does not exit promptly)."""
        self._stopping.set()
        self.resume()
        # Under the lock: a replacement a watcher has just spawned is in its slot, and no other can start now.
        with self._lock:
            children = [slot.process for slot in self._slots]
            for child in children:
                if child.poll() is None:
                    child.terminate()
        for watcher in self._watchers:
            watcher.join()
        for child in children:
            _finish(child)
        self._slots = []
        self._watchers = []
        if self._log is not None:
            self._log.close()
            self._log = None

    def pause(self) -> None:
        """Freeze every process (SIGSTOP): connections are accepted by the kernel but never answered.

        Supervision is suspended until `resume`, so a deliberate outage is not healed away.
        """
        with self._lock:
            self._paused = bool(self._slots)
            for slot in self._slots:
                slot.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Unfreeze every process (SIGCONT) and resume supervision."""
        with self._lock:
            if self._paused:
                for slot in self._slots:
                    if slot.process.poll() is None:
                        slot.process.send_signal(signal.SIGCONT)
                    slot.misses = 0
            self._paused = False

    def __enter__(self) -> LocalWorkerPool:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        environment = {**os.environ, **self.env, ARTIFACT_ROOT_ENV: str(self.artifact_root)}
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "embedded.emulation.workers",
                "--port",
                str(port),
                "--artifact-root",
                str(self.artifact_root),
                "--watch-stdin",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=environment,
        )

    def _watch(self, slot: _Slot, supervision: Supervision) -> None:
        while not self._stopping.wait(supervision.interval_s):
            if self._paused:
                continue
            reason = self._problem(slot, supervision)
            if reason is not None:
                self._replace(slot, reason)

    def _problem(self, slot: _Slot, supervision: Supervision) -> str | None:
        """Why the slot's process must be replaced, or None; polling reaps a process that has exited."""
        code = slot.process.poll()
        if code is not None:
            return f"exited with signal {-code}" if code < 0 else f"exited with code {code}"
        if _healthy(slot.url, supervision.health_timeout_s):
            slot.misses = 0
            return None
        slot.misses += 1
        if slot.misses < supervision.misses_allowed:
            return None
        return f"missed {slot.misses} health deadlines of {supervision.health_timeout_s:g} s in a row"

    def _replace(self, slot: _Slot, reason: str) -> None:
        started = time.monotonic()
        with self._lock:
            if self._paused or self._stopping.is_set():
                return
            old = slot.process
            if old.poll() is None:
                old.kill()
            _finish(old)
            slot.process = self._spawn(slot.port)
            slot.misses = 0
        new = slot.process
        deadline = started + self.startup_timeout_s
        try:
            port = _read_port(new, deadline)
            if port != slot.port:
                raise RuntimeError(f"the replacement listens on port {port}, not {slot.port}")
            _wait_healthy(slot.url, deadline, self._stopping)
        except RuntimeError as error:
            if not self._stopping.is_set():
                # The next check sees the process exited or unhealthy and tries again.
                logger.warning("worker replacement failed %s", json.dumps({"url": slot.url, "error": str(error)}))
            return
        replacement = Replacement(slot.url, reason, old.pid, new.pid, round(time.monotonic() - started, 3))
        with self._lock:
            self._replacements.append(replacement)
            count = len(self._replacements)
        logger.warning(
            "worker replaced %s",
            json.dumps(
                {
                    "url": replacement.url,
                    "reason": replacement.reason,
                    "old_pid": replacement.old_pid,
                    "new_pid": replacement.new_pid,
                    "seconds": replacement.seconds,
                    "replacements": count,
                }
            ),
        )


def _finish(child: subprocess.Popen[bytes]) -> None:
    """Wait for a terminated or killed process (killing one that lingers) and close its pipes."""
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def _read_port(child: subprocess.Popen[bytes], deadline: float) -> int:
    stdout = child.stdout
    if stdout is None:
        raise RuntimeError(f"worker host pid {child.pid} has no stdout pipe")
    ready, _, _ = select.select([stdout], [], [], max(deadline - time.monotonic(), 0))
    line = stdout.readline().decode() if ready else ""
    if not line.startswith(READY_PREFIX):
        raise RuntimeError(f"worker host pid {child.pid} did not start (exit code {child.poll()}, said {line!r})")
    return int(line[len(READY_PREFIX) :])


def _wait_healthy(url: str, deadline: float, stopping: threading.Event) -> None:
    problem = "no answer"
    while time.monotonic() < deadline and not stopping.is_set():
        status = _health_status(url, max(deadline - time.monotonic(), 0.1))
        if status == HTTPStatus.OK:
            return
        problem = f"status {status}" if isinstance(status, int) else status
        time.sleep(0.05)
    raise RuntimeError(f"worker host {url} is not healthy: {problem}")


def _healthy(url: str, timeout_s: float) -> bool:
    return _health_status(url, timeout_s) == HTTPStatus.OK


def _health_status(url: str, timeout_s: float) -> int | str:
    """The status `GET /health` answered within `timeout_s`, or what went wrong instead."""
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point of one worker host process."""
    parser = argparse.ArgumentParser(
        prog="python -m embedded.emulation.workers", description="Serve the GPU workers locally over HTTP."
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1; 0 picks a free one")
    parser.add_argument(
        "--artifact-root", type=Path, required=True, help="folder of <sha256>.onnx artifacts and their manifests"
    )
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve(args.port, args.artifact_root, watch_stdin=args.watch_stdin)


if __name__ == "__main__":
    main()
