"""Ed25519 verification of signed model manifests: the worker loads only what a trusted key approved.

Keys are raw 32-byte Ed25519 public keys, configured in base64 and addressed by their key id, the
first 16 hex digits of their sha256 (the id a `SignedManifest` names its signer by).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gpu_workers.exceptions import ManifestVerificationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from contracts.model.v1 import ModelManifest, SignedManifest

PUBLIC_KEY_BYTES = 32


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the sha256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_keys(encoded: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Trusted keys by key id, from base64 raw public keys.

    Raises ManifestVerificationError naming the entry that is not a 32-byte Ed25519 key, so that a
    misconfigured worker refuses every model instead of trusting fewer keys than it was given.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    for index, text in enumerate(encoded):
        try:
            raw = base64.b64decode(text, validate=True)
        except binascii.Error as error:
            raise ManifestVerificationError(f"trusted key #{index + 1} is not base64: {error}") from error
        if len(raw) != PUBLIC_KEY_BYTES:
            raise ManifestVerificationError(
                f"trusted key #{index + 1} has {len(raw)} bytes, an Ed25519 public key has {PUBLIC_KEY_BYTES}"
            )
        try:
            public_key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as error:
            raise ManifestVerificationError(f"trusted key #{index + 1} is not an Ed25519 public key") from error
        keys[key_id(public_key)] = public_key
    return keys


def verify_manifest(signed: SignedManifest, public_keys: Mapping[str, Ed25519PublicKey]) -> ModelManifest:
    """Return the manifest when a trusted key signed its canonical bytes; raise ManifestVerificationError if not."""
    if not public_keys:
        raise ManifestVerificationError("no trusted manifest keys are configured; every model is refused")
    what = f"manifest of {signed.manifest.model_name}:{signed.manifest.model_version}"
    public_key = public_keys.get(signed.key_id)
    if public_key is None:
        raise ManifestVerificationError(f"{what} is signed by an untrusted key {signed.key_id!r}")
    try:
        public_key.verify(base64.b64decode(signed.signature, validate=True), signed.manifest.canonical_bytes())
    except (InvalidSignature, binascii.Error) as error:
        raise ManifestVerificationError(f"{what}: signature does not verify with key {signed.key_id}") from error
    return signed.manifest
