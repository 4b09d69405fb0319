"""Signed model manifests for the worker tests, made as the lifecycle makes them."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from contracts.model.v1 import Lineage, ModelManifest, SignedManifest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from contracts.model.v1 import VersionStatus
    from contracts.training.v2 import TrainingRequest, TrainingResult


def raw_public_key(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of `key`."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PrivateKey) -> str:
    """The key id a manifest signed by `key` names: sha256 of the raw public key, 16 hex digits."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


def manifest_for(
    request: TrainingRequest, result: TrainingResult, status: VersionStatus = "approved", **overrides: Any
) -> ModelManifest:
    """The manifest the lifecycle would write for a trained version; keyword arguments override fields."""
    fields: dict[str, Any] = {
        "model_name": result.model_name,
        "model_version": result.model_version,
        "use_case": "card-fraud-screening",
        "family": result.family,
        "artifact_digest": result.artifact_digest,
        "artifact_bytes": result.artifact_bytes,
        "artifact_key": f"artifacts/{result.artifact_digest}.onnx",
        "feature_names": result.feature_names,
        "params": result.params,
        "seed": request.seed,
        "threshold": request.threshold,
        "metrics": result.metrics,
        "gates": [],
        "status": status,
        "reasons": [] if status == "approved" else ["auc below the gate"],
        "lineage": Lineage(
            dataset="transactions",
            snapshot_id="snap-1",
            snapshot_sha256="0" * 64,
            feature_version="1",
            code_version="test",
            training_job_id=result.job_id,
            trigger="person",
            requested_by="tester",
        ),
        "baseline": result.baseline,
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return ModelManifest(**fields)


def sign(manifest: ModelManifest, key: Ed25519PrivateKey) -> SignedManifest:
    """`manifest` with the Ed25519 signature of its canonical bytes by `key`."""
    signature = base64.b64encode(key.sign(manifest.canonical_bytes())).decode()
    return SignedManifest(manifest=manifest, key_id=key_id_of(key), signature=signature)
