"""Lambda's execution model on one machine: each function runs in a pool of its own sandbox processes.

A sandbox is a process running `embedded.emulation.runtime` with only its function's handler imported and only
its function's environment. It serves one invocation at a time and keeps what its handler module built between
invocations (warm). The pool hands each invocation an idle sandbox, the most recently used first, and starts a
new one (a cold start, its init timed apart from the invocation as Lambda times it) when none is idle, up to the
function's concurrency limit; an invocation beyond it is throttled (`FunctionThrottledError`, Lambda's 429). A
handler that runs past the function's `Timeout` has its sandbox stopped, as Lambda stops it; a sandbox whose
process died, or whose init failed, is dropped, and the next invocation starts a fresh one.

What a function prints reaches this process's `sys.stdout` and `sys.stderr` as it prints it, and all of it
before the invocation's result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from embedded.emulation.context import FunctionConfiguration, log_stream_name
from embedded.emulation.exceptions import FunctionError, FunctionThrottledError, FunctionTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

logger = logging.getLogger(__name__)

# Lambda allows 10 s for a function's init; a loaded two-core machine importing a function's libraries in several
# new processes at once needs longer.
INIT_TIMEOUT_S = 60.0
# How long a sandbox told to stop may take before it is killed.
_STOP_GRACE_S = 2.0


@dataclass(frozen=True)
class FunctionStats:
    """One function's sandboxes: how many are alive and busy, how many were started and the seconds their inits took
    in all (Lambda's Init Duration), invocations and throttles.
    """

    concurrency_limit: int
    sandboxes: int = 0
    busy: int = 0
    cold_starts: int = 0
    init_s: float = 0.0
    invocations: int = 0
    throttles: int = 0


class Sandbox:
    """One sandbox process of a function, spoken to over a socket pair; used by one invocation at a time."""

    def __init__(
        self,
        configuration: FunctionConfiguration,
        *,
        handler: tuple[str, str],
        environment: Mapping[str, str],
    ) -> None:
        self.configuration = configuration
        self.handler = handler
        self.environment = dict(environment)
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._connection: Connection | None = None
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """Whether the process is running and its channel open."""
        return self._process is not None and self._process.poll() is None and self._connection is not None

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self._process is None else self._process.pid

    def start(self, timeout_s: float = INIT_TIMEOUT_S) -> float:
        """Start the process and wait for its init; the init's seconds. FunctionError when the init failed."""
        host_end, sandbox_end = socket.socketpair()
        module, attribute = self.handler
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "embedded.emulation.runtime",
                    "--channel",
                    str(sandbox_end.fileno()),
                    "--handler",
                    f"{module}:{attribute}",
                ],
                env={**self.environment, "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name()},
                pass_fds=(sandbox_end.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            sandbox_end.close()
        # The connection reads and writes a duplicate of the socket's descriptor; the socket itself is kept so that
        # stop() can shut it down, which wakes the reader thread (a close alone would not) and ends the runtime.
        self._socket = host_end
        self._connection = Connection(os.dup(host_end.fileno()))
        self._reader = threading.Thread(
            target=self._read, name=f"{self.configuration.logical_id}-sandbox-{self._process.pid}", daemon=True
        )
        self._reader.start()
        try:
            reply = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            self.stop()
            raise FunctionTimeoutError(
                f"{self.configuration.function_name} did not finish its init within {timeout_s:g} seconds"
            ) from None
        if reply["type"] == "ready":
            return float(reply["init_s"])
        self.stop()
        if reply["type"] == "init_error":
            raise FunctionError(reply["errorType"], reply["errorMessage"], reply.get("stackTrace"))
        raise FunctionError("Runtime.ExitError", f"Error: Runtime exited during init: {self._exit_reason()}")

    def invoke(self, header: dict[str, Any], event_text: bytes, timeout_s: float) -> Any:
        """Send one invocation and wait for its result; the handler's error raised as FunctionError."""
        connection = self._connection
        request_id = header["request_id"]
        if connection is None:
            raise FunctionError("Runtime.ExitError", f"RequestId: {request_id} Error: the sandbox is stopped")
        try:
            connection.send_bytes(json.dumps(header).encode("utf-8"))
            connection.send_bytes(event_text)
        except OSError:
            self.stop()
            raise FunctionError(
                "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited: {self._exit_reason()}"
            ) from None
        try:
            reply = self._replies.get(timeout=timeout_s)
        except queue.Empty:
            self.stop(kill=True)
            raise FunctionTimeoutError(
                f"{self.configuration.function_name} ({request_id}) timed out after {self.configuration.timeout_s} "
                "seconds"
            ) from None
        if reply["type"] == "result":
            return reply["payload"]
        if reply["type"] == "error":
            raise FunctionError(reply["errorType"], reply["errorMessage"], reply.get("stackTrace"))
        self.stop()
        raise FunctionError(
            "Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {self._exit_reason()}"
        )

    def stop(self, *, kill: bool = False) -> None:
        """Close the channel (the runtime exits on it), killing the process if told to or if it lingers."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)
            self._socket.close()
            self._socket = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        process = self._process
        if process is None:
            return
        if kill and process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join()

    def _exit_reason(self) -> str:
        process = self._process
        if process is None:
            return "not started"
        try:
            code = process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            return "still running"
        if code < 0:
            return f"signal: {signal.Signals(-code).name.removeprefix('SIG').lower()}"
        return f"exit status {code}"

    def _read(self) -> None:
        """Relay what the function prints to this process's output; hand replies to the waiting invocation."""
        connection = self._connection
        assert connection is not None
        try:
            while True:
                message = json.loads(connection.recv_bytes())
                kind = message["type"]
                if kind in {"stdout", "stderr"}:
                    # The output of the moment: a caller may have pointed sys.stdout elsewhere since the start.
                    stream = sys.stdout if kind == "stdout" else sys.stderr
                    stream.write(message["text"])
                    stream.flush()
                else:
                    self._replies.put(message)
        except (EOFError, OSError):
            self._replies.put({"type": "exited"})


class SandboxPool:
    """The sandboxes of one function, grown on demand up to its concurrency limit: what the stack invokes."""

    def __init__(
        self,
        configuration: FunctionConfiguration,
        *,
        handler: tuple[str, str],
        environment: Mapping[str, str],
        concurrency_limit: int,
        ledger: Callable[[str, str, datetime], None] | None = None,
        init_timeout_s: float = INIT_TIMEOUT_S,
    ) -> None:
        """`ledger` is told of every invocation (function, request id, end), as Lambda counts them in its metrics."""
        if concurrency_limit < 0:
            raise ValueError(f"{configuration.logical_id}: a concurrency limit cannot be negative")
        self.configuration = configuration
        self.handler = handler
        self.environment = dict(environment)
        self.concurrency_limit = concurrency_limit
        self.ledger = ledger
        self.init_timeout_s = init_timeout_s
        self._lock = threading.Lock()
        self._idle: list[Sandbox] = []
        self._busy: set[Sandbox] = set()
        # Slots taken by sandboxes still starting: they count against the limit like busy ones.
        self._starting = 0
        self._cold_starts = 0
        self._init_s = 0.0
        self._invocations = 0
        self._throttles = 0
        self._stopped = False

    @property
    def logical_id(self) -> str:
        """The function's logical id in the template."""
        return self.configuration.logical_id

    @property
    def arn(self) -> str:
        """The function's ARN."""
        return self.configuration.arn

    @property
    def stats(self) -> FunctionStats:
        """A snapshot of the pool's counters."""
        with self._lock:
            return FunctionStats(
                concurrency_limit=self.concurrency_limit,
                sandboxes=len(self._idle) + len(self._busy),
                busy=len(self._busy) + self._starting,
                cold_starts=self._cold_starts,
                init_s=self._init_s,
                invocations=self._invocations,
                throttles=self._throttles,
            )

    def invoke(self, event: Any) -> Any:
        """Invoke synchronously in an idle or new sandbox: the handler's result, or its error raised.

        Raises FunctionThrottledError when the function's concurrency is all in use, FunctionError for an error
        of the handler or of its sandbox, FunctionTimeoutError past the function's `Timeout`.
        """
        try:
            event_text = json.dumps(event).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise ValueError(f"the event for {self.logical_id} is not JSON: {error}") from None
        sandbox = self._acquire()
        request_id = str(uuid.uuid4())
        try:
            if sandbox is None:
                sandbox = self._cold_start()
            timeout_s = self.configuration.timeout_s
            header = {
                "type": "invoke",
                "request_id": request_id,
                "arn": self.configuration.arn,
                "deadline_ms": int((time.time() + timeout_s) * 1000),
            }
            return sandbox.invoke(header, event_text, timeout_s)
        finally:
            try:
                if self.ledger is not None:
                    # Counted once it ended (or timed out): by then it has had its chance to store its audit event.
                    self.ledger(self.logical_id, request_id, datetime.now(UTC))
            except OSError as error:
                # As a metric CloudWatch lost: the invocation's own outcome stands.
                logger.error("%s: invocation %s not counted: %s", self.logical_id, request_id, error)
            finally:
                self._release(sandbox)

    def stop(self) -> None:
        """Stop every sandbox; an invocation still running in one fails. Later invocations are refused."""
        with self._lock:
            self._stopped = True
            sandboxes = [*self._idle, *self._busy]
            self._idle.clear()
        for sandbox in sandboxes:
            sandbox.stop()

    def _acquire(self) -> Sandbox | None:
        """An idle sandbox, or None with a slot taken for a new one; throttled when no slot is free."""
        with self._lock:
            if self._stopped:
                raise FunctionError("Runtime.ExitError", f"{self.logical_id}: the stack is stopped")
            self._invocations += 1
            while self._idle:
                sandbox = self._idle.pop()
                if sandbox.alive:
                    self._busy.add(sandbox)
                    return sandbox
            if len(self._busy) + self._starting >= self.concurrency_limit:
                self._invocations -= 1
                self._throttles += 1
                raise FunctionThrottledError(
                    f"Rate Exceeded: {self.logical_id} has {self.concurrency_limit} concurrent executions in use"
                )
            self._starting += 1
            return None

    def _cold_start(self) -> Sandbox:
        sandbox = Sandbox(self.configuration, handler=self.handler, environment=self.environment)
        try:
            init_s = sandbox.start(self.init_timeout_s)
        except BaseException:
            with self._lock:
                self._starting -= 1
                self._cold_starts += 1
            raise
        with self._lock:
            self._starting -= 1
            self._cold_starts += 1
            self._init_s += init_s
            self._busy.add(sandbox)
        return sandbox

    def _release(self, sandbox: Sandbox | None) -> None:
        if sandbox is None:
            return
        with self._lock:
            self._busy.discard(sandbox)
            if sandbox.alive and not self._stopped:
                self._idle.append(sandbox)
                return
        sandbox.stop()


def sandbox_environment(
    configuration: FunctionConfiguration,
    variables: Mapping[str, str],
    *,
    region: str,
    handler: str,
    python_path: Sequence[str],
) -> dict[str, str]:
    """A sandbox's environment: `variables` with the ones Lambda sets for the function laid over them.

    `python_path` goes first on `PYTHONPATH`: the folder the handler's module path starts from (as Lambda puts
    the function's code on the path) and the one this package is imported from.
    """
    inherited = variables.get("PYTHONPATH")
    return {
        **variables,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": configuration.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": configuration.log_group_name,
        "_HANDLER": handler,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys([*python_path, *([inherited] if inherited else [])])),
    }
