"""One Ed25519 private key, as the model lifecycle signs manifests and the audit trail signs digests with it.

cryptography is imported only where a key is used, so that functions which never sign start without it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Self

from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def key_id(public_key: bytes) -> str:
    """First 16 hex digits of the sha256 of a raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def signature_holds(data: bytes, signature_b64: str, public_key: bytes) -> bool:
    """Whether `signature_b64` is the base64 Ed25519 signature of `data` under the raw 32-byte `public_key`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        signature = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


class Ed25519Signer:
    """Holds one Ed25519 private key; subclasses sign their own documents with `_signature`."""

    # What the key signs, for error messages: "the manifest signing key ...".
    KEY_NAME = "signing key"

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate(cls) -> Self:
        """A signer with a fresh key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes | str) -> Self:
        """A signer from a PKCS#8 PEM private key; ConfigurationError when it is not an Ed25519 key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"the {cls.KEY_NAME} is not a PEM private key: {error}") from error
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"the {cls.KEY_NAME} must be Ed25519, not {type(key).__name__}")
        return cls(key)

    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public_key_b64(self) -> str:
        """The raw public key in base64, as verifiers are given it."""
        return base64.b64encode(self.public_key).decode()

    def _signature(self, data: bytes) -> str:
        """The base64 Ed25519 signature of `data`."""
        return base64.b64encode(self._key.sign(data)).decode()

    def _holds(self, data: bytes, signature: str) -> bool:
        """Whether `signature` (base64) is this key's signature of `data`."""
        return signature_holds(data, signature, self.public_key)
