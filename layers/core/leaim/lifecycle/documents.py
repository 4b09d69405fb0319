"""The documents generated of a model version (its technical documentation, its use case's instructions for use,
its bill of materials), archived beside the version, signed and kept ten years.

A document is stored by its sha256 under the version's prefix in the artifacts bucket, with a record that the
model signing key signs; both are written once under a COMPLIANCE object lock of ten years, the retention floor of
EU AI Act Art. 18 for the technical documentation. The same bytes again are the same revision; other bytes of the
same kind and format are the next revision, and nothing archived is ever replaced.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from contracts.model.v1 import ArchivedDocument
from leaim.exceptions import ConflictError, NotFoundError
from leaim.lifecycle.training import MODEL_PREFIX

if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts.model.v1 import DocumentFormat, DocumentKind
    from leaim.domain.clock import Clock
    from leaim.lifecycle.ports import DocumentStore, ModelRegistry
    from leaim.lifecycle.signing import DocumentSigner

# Ten years, whatever their leap days: ten calendar years never hold more than three.
DOCUMENT_RETENTION = timedelta(days=3653)
CONTENT_TYPES: dict[str, str] = {
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "cyclonedx-json": "application/vnd.cyclonedx+json",
}
EXTENSIONS: dict[str, str] = {"markdown": "md", "html": "html", "pdf": "pdf", "cyclonedx-json": "cdx.json"}
# Concurrent archives of other bytes of one kind and format may pick the same revision: the loser takes the next.
REVISION_ATTEMPTS = 5


def documents_prefix(model: str, version: str) -> str:
    """Where a version's archived documents are, beside its signed manifest (`models/{model}/{version}/`)."""
    return f"{MODEL_PREFIX}/{model}/{version}/documents/"


def records_prefix(model: str, version: str) -> str:
    """Where the records of a version's archived documents are."""
    return f"{MODEL_PREFIX}/{model}/{version}/document-records/"


def content_key(model: str, version: str, kind: str, document_format: str, sha256: str) -> str:
    """Object key of a document's bytes: by kind, format and sha256."""
    extension = EXTENSIONS[document_format]
    return f"{documents_prefix(model, version)}{kind}/{document_format}/{sha256}.{extension}"


def record_key(model: str, version: str, kind: str, document_format: str, revision: int) -> str:
    """Object key of one revision's record; zero-padded so that keys list in revision order."""
    return f"{records_prefix(model, version)}{kind}/{document_format}/{revision:06d}.json"


class DocumentArchive:
    """Archives, lists and reads back the signed documents of published model versions."""

    def __init__(
        self,
        *,
        registry: ModelRegistry,
        store: DocumentStore,
        signer: Callable[[], DocumentSigner],
        clock: Clock,
    ) -> None:
        self._registry = registry
        self._store = store
        self._signer = signer
        self._clock = clock

    def archive(
        self,
        model: str,
        version: str,
        kind: DocumentKind,
        document_format: DocumentFormat,
        content: bytes,
        *,
        actor: str,
    ) -> tuple[ArchivedDocument, bool]:
        """Archive `content` as a revision of the version's `kind` document in `document_format`, signed and
        locked for ten years; the revision, and whether this call archived it (False: the same bytes were)."""
        self._require_version(model, version)
        sha256 = hashlib.sha256(content).hexdigest()
        key = content_key(model, version, kind, document_format, sha256)
        for _ in range(REVISION_ATTEMPTS):
            same = [record for record in self._records(model, version) if record.kind == kind]
            same = [record for record in same if record.format == document_format]
            existing = next((record for record in same if record.sha256 == sha256), None)
            if existing is not None:
                return existing, False
            revision = max((record.revision for record in same), default=0) + 1
            archived_at = datetime.fromtimestamp(self._clock.now(), UTC)
            retain_until = archived_at + DOCUMENT_RETENTION
            signer = self._signer()
            record = ArchivedDocument(
                model_name=model,
                model_version=version,
                kind=kind,
                format=document_format,
                revision=revision,
                sha256=sha256,
                size_bytes=len(content),
                content_type=CONTENT_TYPES[document_format],
                location=self._store.location(key),
                key_id=signer.key_id,
                signature=signer.sign(model, version, kind, document_format, sha256),
                archived_at=archived_at,
                archived_by=actor,
                retain_until=retain_until,
            )
            self._store.put_content(key, content, content_type=record.content_type, retain_until=retain_until)
            if self._store.put_record(
                record_key(model, version, kind, document_format, revision), record, retain_until=retain_until
            ):
                return record, True
        raise ConflictError(
            f"{kind} ({document_format}) of {model} {version} is being archived concurrently: send it again"
        )

    def documents(self, model: str, version: str) -> list[ArchivedDocument]:
        """Every archived revision of the version's documents, by kind, format and revision."""
        self._require_version(model, version)
        return self._records(model, version)

    def content(self, model: str, version: str, kind: DocumentKind, sha256: str) -> tuple[ArchivedDocument, bytes]:
        """The first revision of the version's `kind` document with these bytes, and the bytes as archived;
        NotFoundError when there is none, ConflictError when the stored bytes no longer hash to the record's sha256."""
        found = next(
            (record for record in self.documents(model, version) if (record.kind, record.sha256) == (kind, sha256)),
            None,
        )
        if found is None:
            raise NotFoundError(f"{model} {version} has no archived {kind} with sha256 {sha256}")
        key = content_key(model, version, kind, found.format, sha256)
        content = self._store.content(key)
        if content is None:
            raise ConflictError(f"{self._store.location(key)} is missing: the archived bytes cannot be read back")
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256:
            raise ConflictError(f"{self._store.location(key)} hashes to {actual}, not the archived {sha256}")
        return found, content

    def _records(self, model: str, version: str) -> list[ArchivedDocument]:
        return list(self._store.records(records_prefix(model, version)))

    def _require_version(self, model: str, version: str) -> None:
        if self._registry.get(model, version) is None:
            raise NotFoundError(f"model {model!r} has no version {version!r}")
