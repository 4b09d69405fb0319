"""Ed25519 signatures of model manifests (the lifecycle signs, the inference worker verifies), of registered
policy versions (the registry signs and verifies) and of the documents archived beside a model version (the
lifecycle signs, anyone with the public key verifies)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.model.v1 import ModelManifest, SignedManifest
from leaim.domain.policies import policy_digest, policy_statement
from leaim.governance.signing import Ed25519Signer, key_id, signature_holds

if TYPE_CHECKING:
    from contracts.model.v1 import ArchivedDocument
    from contracts.policy.v1 import PolicyVersion

__all__ = [
    "DocumentSigner",
    "ManifestSigner",
    "PolicySigner",
    "document_signature_holds",
    "document_statement",
    "key_id",
]

DOCUMENT_STATEMENT = "leaim-document/v1\n{model}\n{version}\n{kind}\n{format}\n{sha256}"


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


def document_statement(model: str, version: str, kind: str, document_format: str, sha256: str) -> bytes:
    """What an archived document's signature signs: the version it belongs to, its kind and format, its sha256."""
    return DOCUMENT_STATEMENT.format(
        model=model, version=version, kind=kind, format=document_format, sha256=sha256
    ).encode()


def _statement_of(document: ArchivedDocument) -> bytes:
    return document_statement(
        document.model_name, document.model_version, document.kind, document.format, document.sha256
    )


class DocumentSigner(Ed25519Signer):
    """Signs the documents archived beside a model version with the manifest signing key."""

    KEY_NAME = "manifest signing key"

    def sign(self, model: str, version: str, kind: str, document_format: str, sha256: str) -> str:
        """The signature of one archived document's statement."""
        return self._signature(document_statement(model, version, kind, document_format, sha256))

    def verifies(self, document: ArchivedDocument) -> bool:
        """Whether `document` carries this key's valid signature of its statement."""
        return document.key_id == self.key_id and self._holds(_statement_of(document), document.signature)


def document_signature_holds(document: ArchivedDocument, public_key: bytes) -> bool:
    """Whether `document.signature` is the Ed25519 signature of its statement under the raw 32-byte `public_key`,
    and `document.key_id` names that key."""
    return document.key_id == key_id(public_key) and signature_holds(
        _statement_of(document), document.signature, public_key
    )
