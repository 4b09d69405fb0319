"""Fixtures for the GPU worker tests: a synthetic logistic dataset and a model trained on it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from contracts.inference.v1 import InferenceRequest
from contracts.training.v1 import TrainingRequest, TrainingResult
from gpu_workers.training.trainer import train

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

FEATURES = [f"f{i}" for i in range(8)]
TRUE_WEIGHTS = np.array([1.5, -1.0, 0.5, 0.0, 2.0, -0.3, 0.8, 0.0])
TRUE_BIAS = -1.0


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Trained:
    root: Path
    request: TrainingRequest
    result: TrainingResult


def in_ms(seconds: float) -> int:
    """A wall-clock deadline `seconds` from now, in ms since the epoch."""
    return int((time.time() + seconds) * 1000)


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    """2,000 rows of 8 features with labels drawn from a known logistic model."""
    rng = np.random.default_rng(20240611)
    scale = np.array([1.0, 2.0, 3.0, 1.0, 1.0, 5.0, 1.0, 0.5])
    shift = np.array([0.0, 1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0])
    features = rng.normal(size=(2000, 8)) * scale + shift
    logits = (features - shift) @ TRUE_WEIGHTS + TRUE_BIAS
    labels = (rng.random(2000) < 1 / (1 + np.exp(-logits))).astype(int)
    return Dataset(features, labels)


@pytest.fixture(scope="session")
def make_training_request(dataset: Dataset) -> Callable[..., TrainingRequest]:
    """Build a training request on the dataset; keyword arguments override fields."""

    def build(**overrides: Any) -> TrainingRequest:
        fields: dict[str, Any] = {
            "job_id": "job-1",
            "model_name": "card-fraud",
            "model_version": "1.0.0",
            "family": "logistic_regression",
            "params": {"C": 1.0, "max_iter": 200},
            "seed": 7,
            "feature_names": FEATURES,
            "rows": dataset.features.tolist(),
            "labels": dataset.labels.tolist(),
            "deadline_unix_ms": in_ms(120),
        }
        fields.update(overrides)
        return TrainingRequest(**fields)

    return build


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, make_training_request: Callable[..., TrainingRequest]) -> Trained:
    """A model trained once for the session, stored in its own artifact root."""
    root = tmp_path_factory.mktemp("artifacts")
    request = make_training_request()
    return Trained(root, request, train(request, root, worker="test"))


@pytest.fixture
def make_inference_request(trained: Trained, dataset: Dataset) -> Callable[..., InferenceRequest]:
    """Build an inference request for the trained model; `rows` is a slice of the dataset or explicit rows."""

    def build(request_id: str = "req-1", rows: slice | list[list[float]] = slice(0, 3), **overrides: Any):
        fields: dict[str, Any] = {
            "request_id": request_id,
            "model_name": trained.result.model_name,
            "model_version": trained.result.model_version,
            "artifact_digest": trained.result.artifact_digest,
            "feature_names": FEATURES,
            "rows": dataset.features[rows].tolist() if isinstance(rows, slice) else rows,
            "deadline_unix_ms": in_ms(60),
        }
        fields.update(overrides)
        return InferenceRequest(**fields)

    return build
