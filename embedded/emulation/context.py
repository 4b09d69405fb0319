"""What a function is to its callers and what its handler sees: its configuration and the Lambda context object."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


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


def log_stream_name() -> str:
    """A new log stream name, as each Lambda sandbox writes its own: `<date>/[$LATEST]<id>`."""
    return f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"


@dataclass(frozen=True)
class FunctionConfiguration:
    """A function as Lambda's `GetFunctionConfiguration` describes it: names, ARN, memory and timeout."""

    logical_id: str
    function_name: str
    arn: str
    timeout_s: int
    memory_mb: int

    @property
    def log_group_name(self) -> str:
        """The log group the function's output goes to in CloudWatch."""
        return f"/aws/lambda/{self.function_name}"

    def new_context(self, request_id: str | None = None, *, remaining_s: float | None = None) -> LambdaContext:
        """A context whose remaining time counts down from `remaining_s`, by default the function's `Timeout`."""
        return LambdaContext(
            function_name=self.function_name,
            function_version="$LATEST",
            invoked_function_arn=self.arn,
            memory_limit_in_mb=str(self.memory_mb),
            aws_request_id=request_id or str(uuid.uuid4()),
            log_group_name=self.log_group_name,
            log_stream_name=log_stream_name(),
            deadline_monotonic=time.monotonic() + (self.timeout_s if remaining_s is None else remaining_s),
        )


class Invocable(Protocol):
    """What the gateway and the pollers invoke: a function, by its logical id and ARN."""

    @property
    def logical_id(self) -> str:
        """The function's logical id in the template."""
        ...

    @property
    def arn(self) -> str:
        """The function's ARN."""
        ...

    def invoke(self, event: Any) -> Any:
        """Invoke synchronously: the function's result, or its error raised."""
        ...
