"""Training contract, version 2: a feature matrix in; a verified ONNX artifact, its evaluation and baseline out.

Features are computed before the call by the same transforms that serve traffic, so the worker never
sees raw records and needs no feature code of its own. The families and the range of each
hyperparameter are declared here once, so the API that accepts a job and the worker that runs it agree.
Version 2 adds gradient boosted trees, protected groups and the decision threshold to the request, and the
artifact itself, calibration, group rates, latency, the baseline and timings to the result; the ONNX parity
check is judged by the lifecycle's gates instead of failing the call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from contracts._base import Contract
from contracts.inference.v1 import Digest

Family = Literal["logistic_regression", "gradient_boosted_trees"]
FAMILIES: tuple[str, ...] = ("logistic_regression", "gradient_boosted_trees")
ParamValue = float | int | str | bool


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """The type and the accepted range of one hyperparameter."""

    kind: Literal["float", "int", "choice"]
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    default: ParamValue | None = None

    def problem(self, name: str, value: object) -> str | None:
        """Why `value` is not acceptable for `name`, or None when it is."""
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                return f"param {name} must be one of {list(self.choices)}, got {value!r}"
            return None
        numeric = (int,) if self.kind == "int" else (int, float)
        # Booleans are ints to Python but never a valid hyperparameter value here.
        if isinstance(value, bool) or not isinstance(value, numeric):
            return f"param {name} must be {'an integer' if self.kind == 'int' else 'a number'}, got {value!r}"
        number = float(value)
        if not math.isfinite(number):
            return f"param {name} must be finite, got {value!r}"
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        above = self.high is not None and number > self.high
        if below or above:
            opening = "(" if self.low_open else "["
            return f"param {name} must be in {opening}{self.low}, {self.high}], got {value!r}"
        return None


FAMILY_PARAMS: dict[str, dict[str, ParamSpec]] = {
    "logistic_regression": {
        "C": ParamSpec("float", 0.0, 1e4, low_open=True, default=1.0),
        "max_iter": ParamSpec("int", 10, 10_000, default=200),
        "tol": ParamSpec("float", 0.0, 1.0, low_open=True, default=1e-4),
        "class_weight": ParamSpec("choice", choices=("balanced",)),
    },
    "gradient_boosted_trees": {
        "n_estimators": ParamSpec("int", 1, 1000, default=100),
        "learning_rate": ParamSpec("float", 0.0, 1.0, low_open=True, default=0.1),
        "max_depth": ParamSpec("int", 1, 8, default=3),
        "subsample": ParamSpec("float", 0.0, 1.0, low_open=True, default=1.0),
        "min_samples_leaf": ParamSpec("int", 1, 10_000, default=1),
    },
}


def param_problems(family: str, params: dict[str, ParamValue]) -> list[str]:
    """Every reason `params` cannot train `family`: unknown family, unknown names, wrong types, out of range."""
    specs = FAMILY_PARAMS.get(family)
    if specs is None:
        return [f"unknown model family {family!r}; known: {list(FAMILIES)}"]
    problems = [
        f"unsupported {family} param {name!r}; allowed {sorted(specs)}" for name in sorted(set(params) - set(specs))
    ]
    for name, value in params.items():
        if name in specs:
            problem = specs[name].problem(name, value)
            if problem:
                problems.append(problem)
    return problems


class TrainingRequest(Contract):
    """Train one model version on a prepared feature matrix and evaluate it on a seeded held-out split."""

    schema_version: Literal["training.v2"] = "training.v2"
    job_id: str
    model_name: str
    model_version: str
    family: Family
    params: dict[str, ParamValue] = Field(default_factory=dict)
    seed: int
    feature_names: list[str] = Field(min_length=1)
    rows: list[list[float]] = Field(min_length=10)
    labels: list[int] = Field(min_length=10)
    groups: dict[str, list[str | None]] = Field(
        default_factory=dict,
        description="Protected attribute values per row, for the bias evaluation; never features.",
    )
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Scores at or above it are positive.")
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
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
        uneven = sorted(name for name, values in self.groups.items() if len(values) != len(self.rows))
        if uneven:
            raise ValueError(f"groups {uneven} do not have one value per row")
        problems = param_problems(self.family, self.params)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Histogram(Contract):
    """Counts of values between consecutive edges; the first and last bins are open-ended."""

    edges: list[float] = Field(min_length=2)
    counts: list[int]

    @model_validator(mode="after")
    def _sizes(self) -> Histogram:
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError(f"{len(self.edges)} edges need {len(self.edges) - 1} counts, got {len(self.counts)}")
        return self


class Baseline(Contract):
    """Distributions at training time, the reference drift detection compares live traffic with."""

    features: dict[str, Histogram] = Field(description="Per feature, on the training split.")
    score: Histogram = Field(description="Scores of the held-out split under the exported model.")
    rows: int


class GroupRate(Contract):
    """Held-out rows of one protected group and the share of them given the favorable (negative) outcome."""

    rows: int
    favorable_rate: float


class TrainingMetrics(Contract):
    """Quality, calibration, group rates and latency of the exported model on the held-out split."""

    auc: float
    precision: float
    recall: float
    threshold: float
    brier: float = Field(description="Mean squared difference between score and label.")
    calibration_error: float = Field(description="Expected calibration error over 10 equal-width score bins.")
    train_rows: int
    holdout_rows: int
    positive_rate: float
    parity_max_abs_diff: float
    latency_p50_ms: float = Field(description="One-row scoring on the exported model, median.")
    latency_p99_ms: float
    group_rates: dict[str, dict[str, GroupRate]] = Field(default_factory=dict)


class TrainingResult(Contract):
    """The artifact written to the worker's artifact store, addressed by its sha256, and its evaluation."""

    schema_version: Literal["training.v2"] = "training.v2"
    job_id: str
    model_name: str
    model_version: str
    family: Family
    artifact_digest: Digest
    artifact_bytes: int
    artifact_base64: str = Field(description="The artifact itself, for the lifecycle to store under its digest.")
    metrics: TrainingMetrics
    baseline: Baseline
    feature_names: list[str]
    params: dict[str, ParamValue] = Field(description="Every hyperparameter the model was fitted with.")
    worker: str
    training_ms: float
    evaluation_ms: float
    duration_ms: float
    trace_id: str
