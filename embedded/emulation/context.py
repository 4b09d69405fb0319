"""What a handler sees when it runs locally: the Lambda context object, and one thread per invocation."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from embedded.emulation.exceptions import FunctionTimeoutError
from leaim.bootstrap.scheduled import ScheduledFunction

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalice.app import Chalice


class _CurrentStdout(io.TextIOBase):
    """The process's standard output as it is at each write, not as it was when a logger was built."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def print_logs_to_stdout(module: object) -> None:
    """Point the Powertools loggers of a handler module at the process's current standard output.

    Lambda's runtime keeps what a function prints as its log. A Powertools `Logger` binds `sys.stdout` when
    the first one of its service is built and keeps that handler for the life of the process, so a stack
    started later in the same process (with the output sent elsewhere, or the earlier target closed) would
    log into the earlier target. Locally every stack shares the process, so its loggers follow `sys.stdout`.
    The loggers are the module's own and those of its scheduled function.
    """
    values = vars(module).values()
    loggers = [value for value in values if isinstance(value, Logger)]
    loggers += [value.logger for value in values if isinstance(value, ScheduledFunction)]
    for logger in loggers:
        if isinstance(logger.registered_handler, logging.StreamHandler):
            handler = logger.registered_handler
            with handler.lock or contextlib.nullcontext():
                handler.stream = _CURRENT_STDOUT


_CURRENT_STDOUT = _CurrentStdout()


@dataclass
class LambdaContext:
    """The attributes and method of the Python runtime's context object.

    `memory_limit_in_mb` is a string, as the runtime reads it from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`.
    """

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float = field(repr=False)
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's `Timeout`; never negative."""
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


def isolate_requests(app: Chalice) -> Chalice:
    """`app` with its current request and Lambda context kept per thread.

    Lambda gives each concurrent invocation its own container, so a Chalice app there serves one request
    at a time; locally concurrent invocations share one app on threads, and without this one invocation's
    route could read another's request.
    """
    state = threading.local()

    def accessor(name: str) -> property:
        return property(lambda _: getattr(state, name, None), lambda _, value: setattr(state, name, value))

    isolated = type(
        f"PerInvocation{type(app).__name__}",
        (type(app),),
        {"current_request": accessor("current_request"), "lambda_context": accessor("lambda_context")},
    )
    for name in ("current_request", "lambda_context"):
        app.__dict__.pop(name, None)
    app.__class__ = isolated
    return app


@dataclass(frozen=True)
class LocalFunction:
    """A function's handler with its name, ARN, memory and timeout; invoked in-process, one thread per call."""

    logical_id: str
    function_name: str
    arn: str
    handler: Callable[[Any, LambdaContext], Any]
    timeout_s: int
    memory_mb: int
    # Told of every invocation (function, request id, end), as Lambda counts them in its metrics.
    ledger: Callable[[str, str, datetime], None] | None = None

    def new_context(self) -> LambdaContext:
        """A fresh context whose remaining time counts down from the function's `Timeout`."""
        request_id = str(uuid.uuid4())
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        return LambdaContext(
            function_name=self.function_name,
            function_version="$LATEST",
            invoked_function_arn=self.arn,
            memory_limit_in_mb=str(self.memory_mb),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{self.function_name}",
            log_stream_name=f"{day}/[$LATEST]{uuid.uuid4().hex}",
            deadline_monotonic=time.monotonic() + self.timeout_s,
        )

    def invoke(self, event: Any) -> Any:
        """Run the handler on its own thread and return its result or raise its exception.

        Past the `Timeout` this raises `FunctionTimeoutError`; the handler's thread cannot be killed as Lambda
        kills a sandbox, so it runs on as a daemon thread and its result is discarded.
        """
        context = self.new_context()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = self.handler(event, context)
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=run, name=f"{self.logical_id}-{context.aws_request_id}", daemon=True)
        thread.start()
        thread.join(self.timeout_s)
        if self.ledger is not None:
            # Counted once it ended (or timed out): by then it has had its chance to store its audit event.
            self.ledger(self.logical_id, context.aws_request_id, datetime.now(UTC))
        if thread.is_alive():
            raise FunctionTimeoutError(
                f"{self.function_name} ({context.aws_request_id}) timed out after {self.timeout_s} seconds"
            )
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("result")
