"""Fixtures of the GPU worker tests, unit and integration: a synthetic logistic dataset, models of both
families trained on it, and Ed25519-signed manifests published beside their artifacts, as the lifecycle
publishes them."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.inference.v1 import InferenceRequest
from contracts.training.v2 import TrainingRequest, TrainingResult
from gpu_workers.artifacts import store_manifest
from gpu_workers.training.trainer import train
from tests.support.signing import key_id_of, manifest_for, raw_public_key, sign

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from contracts.model.v1 import SignedManifest

FEATURES = [f"f{i}" for i in range(8)]
TRUE_WEIGHTS = np.array([1.5, -1.0, 0.5, 0.0, 2.0, -0.3, 0.8, 0.0])
TRUE_BIAS = -1.0
TREE_PARAMS = {"n_estimators": 20, "max_depth": 3}


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class Trained:
    root: Path
    request: TrainingRequest
    result: TrainingResult
    signed: SignedManifest


def in_ms(seconds: float) -> int:
    """A wall-clock deadline `seconds` from now, in ms since the epoch."""
    return int((time.time() + seconds) * 1000)


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The key the tests' lifecycle signs manifests with."""
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def public_keys(signing_key: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    """The trusted keys, by key id: only the signing key."""
    return {key_id_of(signing_key): signing_key.public_key()}


@pytest.fixture(scope="session")
def public_keys_env(signing_key: Ed25519PrivateKey) -> str:
    """`LEAIM_MANIFEST_PUBLIC_KEYS` trusting the signing key."""
    return base64.b64encode(raw_public_key(signing_key)).decode()


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
            # Session fixtures train with this request and tests train with it again much later in the run.
            "deadline_unix_ms": in_ms(3600),
        }
        fields.update(overrides)
        return TrainingRequest(**fields)

    return build


def _train_and_publish(root: Path, request: TrainingRequest, key: Ed25519PrivateKey) -> Trained:
    result = train(request, root, worker="test")
    signed = sign(manifest_for(request, result), key)
    store_manifest(signed, root)
    return Trained(root, request, result, signed)


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    make_training_request: Callable[..., TrainingRequest],
    signing_key: Ed25519PrivateKey,
) -> Trained:
    """A logistic model trained once for the session, its signed manifest beside it in its own artifact root."""
    return _train_and_publish(tmp_path_factory.mktemp("artifacts"), make_training_request(), signing_key)


@pytest.fixture(scope="session")
def trained_trees(
    tmp_path_factory: pytest.TempPathFactory,
    make_training_request: Callable[..., TrainingRequest],
    signing_key: Ed25519PrivateKey,
) -> Trained:
    """A small gradient boosted trees model, trained and published like `trained`."""
    request = make_training_request(family="gradient_boosted_trees", params=TREE_PARAMS, model_version="2.0.0")
    return _train_and_publish(tmp_path_factory.mktemp("tree-artifacts"), request, signing_key)


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
