"""Inference contract, version 1: what the orchestration code sends a GPU worker and gets back."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from contracts._base import Contract

Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class InferenceRequest(Contract):
    """A batch of feature rows for one model version, with the caller's trace context and deadline."""

    schema_version: Literal["inference.v1"] = "inference.v1"
    request_id: str
    model_name: str
    model_version: str
    artifact_digest: Digest
    feature_names: list[str] = Field(min_length=1)
    rows: list[list[float]] = Field(min_length=1)
    top_reasons: int = Field(default=3, ge=0)
    trace_context: dict[str, str] = Field(
        default_factory=dict, description="W3C trace context carrier (traceparent, tracestate)."
    )
    deadline_unix_ms: int = Field(description="Wall-clock time after which the caller no longer waits.")

    @model_validator(mode="after")
    def _rows_match_features(self) -> InferenceRequest:
        width = len(self.feature_names)
        for index, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"row {index} has {len(row)} values, expected {width}")
        return self


class Contribution(Contract):
    """A feature's additive contribution to the row's log-odds."""

    feature: str
    value: float
    contribution: float


class RowScore(Contract):
    """Score of one row and its largest contributions, largest absolute value first."""

    score: float = Field(ge=0.0, le=1.0)
    contributions: list[Contribution]


class InferenceResult(Contract):
    """The worker's answer for one request."""

    schema_version: Literal["inference.v1"] = "inference.v1"
    request_id: str
    model_name: str
    model_version: str
    artifact_digest: Digest
    results: list[RowScore]
    worker: str
    batch_size: int = Field(description="Rows scored together in the worker call that served this request.")
    duration_ms: float
    trace_id: str
    span_id: str
