"""Ed25519 signatures of model manifests: the lifecycle signs, the inference worker verifies."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.model.v1 import ModelManifest, SignedManifest
from leaim.exceptions import ConfigurationError


def key_id(public_key: bytes) -> str:
    """First 16 hex digits of the sha256 of a raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class ManifestSigner:
    """Signs manifests with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate(cls) -> ManifestSigner:
        """A signer with a fresh key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes | str) -> ManifestSigner:
        """A signer from a PKCS#8 PEM private key; ConfigurationError when it is not an Ed25519 key."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"the manifest signing key is not a PEM private key: {error}") from error
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"the manifest signing key must be Ed25519, not {type(key).__name__}")
        return cls(key)

    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_key_b64(self) -> str:
        """The raw public key in base64, as workers are configured with it."""
        return base64.b64encode(self.public_key).decode()

    def sign(self, manifest: ModelManifest) -> SignedManifest:
        """The manifest with the signature of its canonical bytes."""
        signature = self._key.sign(manifest.canonical_bytes())
        return SignedManifest(manifest=manifest, key_id=self.key_id, signature=base64.b64encode(signature).decode())

    def verifies(self, signed: SignedManifest) -> bool:
        """Whether `signed` carries this key's valid signature of its manifest as it stands."""
        if signed.key_id != self.key_id:
            return False
        try:
            self._key.public_key().verify(
                base64.b64decode(signed.signature, validate=True), signed.manifest.canonical_bytes()
            )
        except (InvalidSignature, ValueError):
            return False
        return True
