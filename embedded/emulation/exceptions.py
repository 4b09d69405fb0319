"""Errors of the emulated cloud."""

from __future__ import annotations

from leaim.exceptions import ConfigurationError, LeaimError


class FunctionTimeoutError(LeaimError):
    """The handler did not return within the function's `Timeout`."""

    code = "function_timeout"


class StreamsBehindError(LeaimError):
    """The stream readers did not catch up with what was written to their streams in the time given."""

    code = "streams_behind"


class TemplateError(ConfigurationError):
    """The template cannot be read, or uses a construct the local stack does not support."""
