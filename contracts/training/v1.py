"""Training contract, version 1: a feature matrix in, a verified ONNX artifact and its metrics out.

Features are computed before the call by the same transforms that serve traffic, so the worker never
sees raw records and needs no feature code of its own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from contracts._base import Contract
from contracts.inference.v1 import Digest


class TrainingRequest(Contract):
    """Train one model version on a prepared feature matrix."""

    schema_version: Literal["training.v1"] = "training.v1"
    job_id: str
    model_name: str
    model_version: str
    family: Literal["logistic_regression"]
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    seed: int
    feature_names: list[str] = Field(min_length=1)
    rows: list[list[float]] = Field(min_length=10)
    labels: list[int] = Field(min_length=10)
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    parity_tolerance: float = Field(default=1e-5, gt=0.0)
    trace_context: dict[str, str] = Field(default_factory=dict)
    deadline_unix_ms: int

    @model_validator(mode="after")
    def _shapes(self) -> TrainingRequest:
        if len(self.rows) != len(self.labels):
            raise ValueError(f"{len(self.rows)} rows but {len(self.labels)} labels")
        width = len(self.feature_names)
        bad = [i for i, row in enumerate(self.rows) if len(row) != width]
        if bad:
            raise ValueError(f"rows {bad[:5]} do not have {width} values")
        if set(self.labels) - {0, 1}:
            raise ValueError("labels must be 0 or 1")
        return self


class TrainingMetrics(Contract):
    """Quality of the trained model on the held-out split, and the ONNX parity check."""

    auc: float
    precision: float
    recall: float
    threshold: float
    train_rows: int
    holdout_rows: int
    positive_rate: float
    parity_max_abs_diff: float


class TrainingResult(Contract):
    """The artifact written to the worker's artifact store, addressed by its sha256."""

    schema_version: Literal["training.v1"] = "training.v1"
    job_id: str
    model_name: str
    model_version: str
    artifact_digest: Digest
    artifact_bytes: int
    metrics: TrainingMetrics
    feature_names: list[str]
    worker: str
    duration_ms: float
    trace_id: str
