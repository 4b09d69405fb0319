"""The ONNX interface and the artifact store layout shared by the trainer, the runtime and the publishers."""

from __future__ import annotations

INPUT_NAME = "features"
SCORE_OUTPUT = "score"
CONTRIBUTIONS_OUTPUT = "contributions"

METADATA_MODEL_NAME = "model_name"
METADATA_MODEL_VERSION = "model_version"
METADATA_FEATURE_NAMES = "feature_names"
METADATA_FAMILY = "family"
REQUIRED_METADATA = frozenset({METADATA_MODEL_NAME, METADATA_MODEL_VERSION, METADATA_FEATURE_NAMES, METADATA_FAMILY})

ARTIFACT_SUFFIX = ".onnx"
MANIFEST_SUFFIX = ".manifest.json"


def artifact_filename(digest: str) -> str:
    """File name of the artifact whose sha256 is `digest`."""
    return f"{digest}{ARTIFACT_SUFFIX}"


def manifest_filename(digest: str) -> str:
    """File name of the signed manifest (`SignedManifest` JSON) of the artifact whose sha256 is `digest`."""
    return f"{digest}{MANIFEST_SUFFIX}"
