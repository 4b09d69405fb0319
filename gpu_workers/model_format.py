"""The ONNX interface shared by the trainer that writes artifacts and the runtime that serves them."""

from __future__ import annotations

INPUT_NAME = "features"
SCORE_OUTPUT = "score"
CONTRIBUTIONS_OUTPUT = "contributions"

METADATA_MODEL_NAME = "model_name"
METADATA_MODEL_VERSION = "model_version"
METADATA_FEATURE_NAMES = "feature_names"
METADATA_FAMILY = "family"
REQUIRED_METADATA = frozenset({METADATA_MODEL_NAME, METADATA_MODEL_VERSION, METADATA_FEATURE_NAMES})

ARTIFACT_SUFFIX = ".onnx"


def artifact_filename(digest: str) -> str:
    """File name of the artifact whose sha256 is `digest`."""
    return f"{digest}{ARTIFACT_SUFFIX}"
