"""Error contract, version 1: the body of every 4xx and 5xx answer of every API."""

from __future__ import annotations

from pydantic import Field

from contracts._base import Contract


class FieldError(Contract):
    """One offending field of a rejected request."""

    field: str
    message: str
    type: str


class ErrorResponse(Contract):
    """Body of every 4xx/5xx answer: a code, a message, and the offending fields where there are any."""

    error: str
    message: str
    fields: list[FieldError] = Field(default_factory=list)
    trace_id: str | None = None
