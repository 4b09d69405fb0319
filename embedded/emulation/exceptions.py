"""Errors of the emulated cloud."""

from __future__ import annotations

from leaim.exceptions import ConfigurationError, LeaimError


class FunctionError(LeaimError):
    """An invocation failed as Lambda reports it: the handler raised, its sandbox could not start, or it died.

    `error_type` and `error_message` are Lambda's `errorType` and `errorMessage` (the exception's class name and
    text, or `Runtime.ImportModuleError`, `Runtime.HandlerNotFound`, `Runtime.ExitError`...), `stack_trace` its
    `stackTrace` lines.
    """

    code = "function_error"

    def __init__(self, error_type: str, error_message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = list(stack_trace or [])


class FunctionTimeoutError(LeaimError):
    """The handler did not return within the function's `Timeout`; its sandbox was stopped, as Lambda stops it."""

    code = "function_timeout"


class FunctionThrottledError(LeaimError):
    """Every sandbox the function may have is busy: Lambda's 429 `TooManyRequestsException`."""

    code = "function_throttled"
    status = 429


class StreamsBehindError(LeaimError):
    """The stream readers did not catch up with what was written to their streams in the time given."""

    code = "streams_behind"


class TemplateError(ConfigurationError):
    """The template cannot be read, or uses a construct the local stack does not support."""
