"""The archived documents of a model version over HTTP, independent of the web framework:
`/v1/models/{model}/versions/{version}/documents`.

Every invocation stores one audit event naming its principal; an archive's event records the kind, format,
revision, sha256 and where the bytes are, so the trail shows who archived which document of which version when.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from typing import TYPE_CHECKING, Any, cast

from contracts.error.v1 import FieldError
from contracts.model.v1 import (
    DOCUMENT_FORMATS,
    ArchivedDocumentContent,
    ArchivedDocumentList,
    DocumentArchiveRequest,
)
from leaim.exceptions import NotFoundError
from leaim.governance.access.exceptions import InvalidRequestError
from leaim.governance.access.gate import GovernedHttp, HttpAnswer
from leaim.governance.access.policy import Permission
from leaim.lifecycle.api import require_model

if TYPE_CHECKING:
    from pydantic import BaseModel

    from contracts.model.v1 import DocumentKind
    from leaim.governance.access.gate import HttpGate, Invocation
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import Principal
    from leaim.lifecycle.documents import DocumentArchive
    from leaim.lifecycle.training import TrainingJobs

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def document_problem(kind: str, document_format: str, content: bytes) -> str | None:
    """Why `content` is not a document of `kind` in `document_format`, or None when it is one: a PDF starts with
    `%PDF-`, Markdown and HTML are UTF-8 text, a bill of materials is a CycloneDX JSON document."""
    formats = DOCUMENT_FORMATS[kind]
    if document_format not in formats:
        return f"a {kind} document is archived as {' or '.join(formats)}, not {document_format}"
    if document_format == "pdf":
        return None if content.startswith(b"%PDF-") else "the content is not a PDF: it does not start with %PDF-"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"the content is not UTF-8 text: {error}"
    if document_format != "cyclonedx-json":
        return None
    try:
        document = json.loads(text)
    except ValueError as error:
        return f"the content is not JSON: {error}"
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        return 'the content is not a CycloneDX document: it has no "bomFormat": "CycloneDX"'
    return None


class DocumentApi(GovernedHttp):
    """Archive, list and read back the signed documents of a model version."""

    def __init__(self, *, jobs: TrainingJobs, archive: DocumentArchive, gate: HttpGate) -> None:
        super().__init__(gate)
        self._jobs = jobs
        self._archive = archive

    def archive(self, model: str, version: str, kind: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """`PUT /v1/models/{model}/versions/{version}/documents/{kind}`: archive a generated document, signed and
        locked for ten years; 201 with its record, or 200 with the record of the same bytes archived before."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            self._reach(principal, audit, model, version)
            known = _kind(kind)
            request = self._parse(DocumentArchiveRequest, self._json(body, invocation), "a document to archive")
            content = _decoded(request.content_base64)
            problem = document_problem(known, request.format, content)
            if problem is not None:
                field = "format" if request.format not in DOCUMENT_FORMATS[known] else "content_base64"
                raise InvalidRequestError(problem, [FieldError(field=field, message=problem, type="document")])
            record, archived = self._archive.archive(
                model, version, known, request.format, content, actor=principal.name
            )
            return record, {
                "kind": record.kind,
                "format": record.format,
                "revision": record.revision,
                "sha256": record.sha256,
                "size_bytes": record.size_bytes,
                "location": record.location,
                "archived": archived,
            }

        return self._serve(
            invocation,
            "model.document.archive",
            Permission.ARCHIVE_DOCUMENTS,
            {"model": model, "version": version, "kind": kind},
            work,
            status=lambda details: 201 if details["archived"] else 200,
        )

    def list(self, model: str, version: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/models/{model}/versions/{version}/documents`: every archived revision, with its signature."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            self._reach(principal, audit, model, version)
            documents = self._archive.documents(model, version)
            listed = ArchivedDocumentList(model_name=model, model_version=version, documents=documents)
            return listed, {"listed": len(documents)}

        return self._serve(
            invocation, "model.document.list", Permission.READ_MODELS, {"model": model, "version": version}, work
        )

    def read(self, model: str, version: str, kind: str, sha256: str, invocation: Invocation) -> HttpAnswer:
        """`GET /v1/models/{model}/versions/{version}/documents/{kind}/{sha256}`: an archived document's record and
        its bytes, checked against its sha256."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            self._reach(principal, audit, model, version)
            known = _kind(kind)
            if not SHA256.fullmatch(sha256):
                message = f"{sha256!r} is not a sha256: 64 lower-case hex digits"
                raise InvalidRequestError(message, [FieldError(field="sha256", message=message, type="pattern")])
            record, content = self._archive.content(model, version, known, sha256)
            answer = ArchivedDocumentContent(document=record, content_base64=base64.b64encode(content).decode())
            return answer, {"kind": known, "format": record.format, "revision": record.revision, "sha256": sha256}

        return self._serve(
            invocation,
            "model.document.read",
            Permission.READ_MODELS,
            {"model": model, "version": version, "kind": kind},
            work,
        )

    def _reach(self, principal: Principal, audit: InvocationAudit, model: str, version: str) -> None:
        """Note the version on the event; NotFoundError, as for a version that does not exist, out of the key's
        scope."""
        audit.note(model_name=model, model_version=version)
        require_model(self._jobs, principal, model, f"model {model!r} has no version {version!r}")
        with contextlib.suppress(NotFoundError):
            audit.note(use_case=self._jobs.manifest_of_model(model).name)


def _kind(kind: str) -> DocumentKind:
    """The path's document kind; a 422 naming the kinds there are for any other."""
    if kind not in DOCUMENT_FORMATS:
        message = f"no document kind {kind!r}: one of {', '.join(DOCUMENT_FORMATS)}"
        raise InvalidRequestError(message, [FieldError(field="kind", message=message, type="enum")])
    return cast("DocumentKind", kind)


def _decoded(content_base64: str) -> bytes:
    try:
        return base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError) as error:
        message = f"content_base64 is not base64: {error}"
        raise InvalidRequestError(
            message, [FieldError(field="content_base64", message=message, type="base64")]
        ) from error
