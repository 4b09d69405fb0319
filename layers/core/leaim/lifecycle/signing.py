"""Ed25519 signatures of model manifests: the lifecycle signs, the inference worker verifies."""

from __future__ import annotations

from contracts.model.v1 import ModelManifest, SignedManifest
from leaim.governance.signing import Ed25519Signer, key_id

__all__ = ["ManifestSigner", "key_id"]


class ManifestSigner(Ed25519Signer):
    """Signs manifests with one Ed25519 private key."""

    KEY_NAME = "manifest signing key"

    def sign(self, manifest: ModelManifest) -> SignedManifest:
        """The manifest with the signature of its canonical bytes."""
        return SignedManifest(
            manifest=manifest, key_id=self.key_id, signature=self._signature(manifest.canonical_bytes())
        )

    def verifies(self, signed: SignedManifest) -> bool:
        """Whether `signed` carries this key's valid signature of its manifest as it stands."""
        return signed.key_id == self.key_id and self._holds(signed.manifest.canonical_bytes(), signed.signature)
