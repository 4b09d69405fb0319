"""Ed25519 signatures of model manifests (the lifecycle signs, the inference worker verifies) and of registered
policy versions (the registry signs and verifies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.model.v1 import ModelManifest, SignedManifest
from leaim.domain.policies import policy_digest, policy_statement
from leaim.governance.signing import Ed25519Signer, key_id

if TYPE_CHECKING:
    from contracts.policy.v1 import PolicyVersion

__all__ = ["ManifestSigner", "PolicySigner", "key_id"]


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


class PolicySigner(Ed25519Signer):
    """Signs registered policy versions (use-case manifests, dataset contracts) with the manifest signing key."""

    KEY_NAME = "manifest signing key"

    def sign(self, kind: str, subject: str, version: int, digest: str) -> str:
        """The signature of one version's statement."""
        return self._signature(policy_statement(kind, subject, version, digest))

    def verifies(self, version: PolicyVersion) -> bool:
        """Whether `version` carries this key's valid signature of its number and of its document as it stands."""
        if version.key_id != self.key_id or policy_digest(version.document) != version.digest:
            return False
        statement = policy_statement(version.kind, version.subject, version.version, version.digest)
        return self._holds(statement, version.signature)
