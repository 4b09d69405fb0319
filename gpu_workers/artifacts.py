"""The artifact store: `<sha256>.onnx` artifacts and their `<sha256>.manifest.json` signed manifests.

Files are written atomically and never change once written: an artifact is named by its content, and
a manifest, once stored for a digest, can only be stored again unchanged.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.model.v1 import SignedManifest
from gpu_workers.exceptions import ArtifactNotFoundError, ManifestConflictError, ManifestVerificationError
from gpu_workers.model_format import artifact_filename, manifest_filename

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def store_artifact(artifact: bytes, artifact_root: Path) -> str:
    """Write `artifact` to `artifact_root/<sha256>.onnx` atomically and return the sha256 (hex)."""
    digest = hashlib.sha256(artifact).hexdigest()
    temporary = Path(_write_temporary(artifact, artifact_root, digest))
    try:
        temporary.replace(artifact_root / artifact_filename(digest))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return digest


def read_manifest(artifact_root: Path, digest: str) -> SignedManifest:
    """The signed manifest stored for `digest`, parsed but not yet verified.

    Raises ArtifactNotFoundError when there is none, ManifestVerificationError when it is not a
    `model.v1` signed manifest.
    """
    path = artifact_root / manifest_filename(digest)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ArtifactNotFoundError(f"no manifest {path.name} for artifact {digest} in {artifact_root}") from error
    try:
        return SignedManifest.model_validate_json(data)
    except ValidationError as error:
        raise ManifestVerificationError(f"{path.name} is not a model.v1 signed manifest: {error}") from error


def store_manifest(signed: SignedManifest, artifact_root: Path) -> None:
    """Write `signed` to `artifact_root/<digest>.manifest.json` unless that exact manifest is already there.

    The file is created atomically and never replaced: raises ManifestConflictError when a different
    manifest is already stored for the digest.
    """
    digest = signed.manifest.artifact_digest
    target = artifact_root / manifest_filename(digest)
    temporary = _write_temporary(signed.model_dump_json().encode(), artifact_root, digest)
    try:
        # A hard link creates the target only if it does not exist, so two publishers cannot both win.
        os.link(temporary, target)
    except FileExistsError:
        if read_manifest(artifact_root, digest) != signed:
            raise ManifestConflictError(f"a different manifest is already stored for artifact {digest}") from None
    finally:
        Path(temporary).unlink()


def publish_manifest(signed: SignedManifest, artifact_root: Path, public_keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Verify `signed` against the trusted keys, then store it beside its artifact (see `store_manifest`)."""
    # Imported here so that the training image, which never verifies, needs no cryptography.
    from gpu_workers.inference.signatures import verify_manifest

    verify_manifest(signed, public_keys)
    store_manifest(signed, artifact_root)


def _write_temporary(data: bytes, artifact_root: Path, digest: str) -> str:
    artifact_root.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=artifact_root, prefix=f".{digest}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary
