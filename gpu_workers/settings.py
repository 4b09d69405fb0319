"""Deployment constants shared by the training and inference apps: names, hardware, pins, limits."""

from __future__ import annotations

import os
import socket
from pathlib import Path

INFERENCE_APP_NAME = "leaim-inference"
TRAINING_APP_NAME = "leaim-training"
INFERENCE_CLASS_NAME = "InferenceWorker"
TRAINING_FUNCTION_NAME = "train"
ARTIFACTS_VOLUME_NAME = "leaim-artifacts"

GPU = "L4"
PYTHON_VERSION = "3.11"

# Pinned to what the lockfile resolves locally, so the parity check in training and the scores served
# in the cloud come from the same library versions the tests ran against.
NUMPY_VERSION = "2.2.6"
ONNX_VERSION = "1.23.2"
ONNXRUNTIME_VERSION = "1.32.0"
SCIKIT_LEARN_VERSION = "1.9.1"
PYDANTIC_VERSION = "2.14.3"
OPENTELEMETRY_VERSION = "1.45.2"
CRYPTOGRAPHY_VERSION = "50.0.2"

COMMON_PACKAGES = (
    f"numpy=={NUMPY_VERSION}",
    f"pydantic=={PYDANTIC_VERSION}",
    f"opentelemetry-api=={OPENTELEMETRY_VERSION}",
)
INFERENCE_PACKAGES = (
    *COMMON_PACKAGES,
    f"onnxruntime-gpu=={ONNXRUNTIME_VERSION}",
    f"cryptography=={CRYPTOGRAPHY_VERSION}",
)
TRAINING_PACKAGES = (
    *COMMON_PACKAGES,
    f"onnx=={ONNX_VERSION}",
    f"onnxruntime=={ONNXRUNTIME_VERSION}",
    f"scikit-learn=={SCIKIT_LEARN_VERSION}",
)
LOCAL_SOURCES = ("gpu_workers", "contracts")

MINUTES = 60
# Under the training function's 900 s Lambda timeout, so a call abandoned at its deadline stops soon after.
TRAINING_TIMEOUT_S = 14 * MINUTES
INFERENCE_TIMEOUT_S = 5 * MINUTES
INFERENCE_SCALEDOWN_WINDOW_S = 5 * MINUTES

MAX_BATCH_SIZE = 64
BATCH_WAIT_MS = 10

ARTIFACT_ROOT_ENV = "LEAIM_ARTIFACT_ROOT"
DEFAULT_ARTIFACT_ROOT = "/artifacts"

# The inference worker loads only artifacts whose manifest is signed by one of these keys. In Modal the
# variable comes from the secret of that name (public keys: a name, no credential); locally from the
# worker host's environment.
MANIFEST_KEYS_SECRET_NAME = "leaim-manifest-keys"  # noqa: S105
MANIFEST_PUBLIC_KEYS_ENV = "LEAIM_MANIFEST_PUBLIC_KEYS"


def artifact_root() -> Path:
    """Folder of artifacts and their manifests: the volume mount in Modal, `$LEAIM_ARTIFACT_ROOT` locally."""
    return Path(os.environ.get(ARTIFACT_ROOT_ENV, DEFAULT_ARTIFACT_ROOT))


def manifest_public_keys() -> list[str]:
    """Trusted manifest keys from `$LEAIM_MANIFEST_PUBLIC_KEYS`: base64 raw Ed25519 public keys, comma-separated."""
    value = os.environ.get(MANIFEST_PUBLIC_KEYS_ENV, "")
    return [key.strip() for key in value.split(",") if key.strip()]


def worker_id() -> str:
    """Identifies this container or process in results, as `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"
