"""The documents archived beside a model version, over an in-memory store: signed, revised never replaced, locked ten
years; and their API: who may archive, what a bad kind, format or content answers, one audit event per call."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from contracts.model.v1 import ArchivedDocument
from leaim.exceptions import NotFoundError
from leaim.governance.access.gate import HttpGate, Invocation
from leaim.governance.ports import Principal
from leaim.lifecycle.document_api import DocumentApi, document_problem
from leaim.lifecycle.documents import DocumentArchive, content_key
from leaim.lifecycle.signing import DocumentSigner, document_signature_holds
from tests.support.fakes import ManualClock, MemoryAuditLog, MemoryKeys, StaticTelemetry

if TYPE_CHECKING:
    from collections.abc import Sequence

MODEL, VERSION, USE_CASE = "card-fraud", "v1", "card_fraud"
KEYS = {
    "ml-key": Principal("fraud-ml", "ml_engineer"),
    "auditor-key": Principal("audit-team", "auditor"),
    "client-key": Principal("checkout-service", "decision_client"),
    "other-ml-key": Principal("loans-ml", "ml_engineer", frozenset({"loan_default"})),
}
MARKDOWN = b"# Technical documentation: card-fraud v1 (card_fraud)\n\n## 1. General description\n"
BOM = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}).encode()


class MemoryDocumentStore:
    """`DocumentStore` in memory: what was put, with its retention, and never replaced."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}

    def location(self, key: str) -> str:
        return f"memory://artifacts/{key}"

    def records(self, prefix: str) -> Sequence[ArchivedDocument]:
        return [
            ArchivedDocument.model_validate_json(body)
            for key, (body, _) in sorted(self.objects.items())
            if key.startswith(prefix)
        ]

    def put_content(self, key: str, body: bytes, *, content_type: str, retain_until: datetime) -> None:
        self.objects.setdefault(key, (body, retain_until))

    def put_record(self, key: str, record: ArchivedDocument, *, retain_until: datetime) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = (record.model_dump_json().encode(), retain_until)
        return True

    def content(self, key: str) -> bytes | None:
        found = self.objects.get(key)
        return None if found is None else found[0]


class OneVersion:
    """A registry that holds card-fraud v1 only."""

    def get(self, name: str, version: str) -> object | None:
        return object() if (name, version) == (MODEL, VERSION) else None


class Manifests:
    """What the API asks the training jobs: which use case a model serves."""

    def manifest_of_model(self, model: str) -> Any:
        if model != MODEL:
            raise NotFoundError(f"no use case manifest names model {model!r}")
        return type("Manifest", (), {"name": USE_CASE})()


class Archive:
    def __init__(self) -> None:
        self.signer = DocumentSigner.generate()
        self.store = MemoryDocumentStore()
        self.clock = ManualClock()
        self.archive = DocumentArchive(
            registry=OneVersion(),  # type: ignore[arg-type]
            store=self.store,
            signer=lambda: self.signer,
            clock=self.clock,
        )
        self.audit = MemoryAuditLog()
        gate = HttpGate(
            keys=MemoryKeys(KEYS),
            audit_log=self.audit,
            telemetry=StaticTelemetry(),
            clock=self.clock,
            max_body_bytes=1024 * 1024,
            source="LifecycleApiFunction",
        )
        self.api = DocumentApi(jobs=Manifests(), archive=self.archive, gate=gate)  # type: ignore[arg-type]

    def put(
        self, kind: str, body: object, *, key: str = "ml-key", version: str = VERSION
    ) -> tuple[int, dict[str, Any]]:
        raw = json.dumps(body).encode()
        return self._call(key, lambda invocation: self.api.archive(MODEL, version, kind, raw, invocation))

    def list(self, *, key: str = "auditor-key") -> tuple[int, dict[str, Any]]:
        return self._call(key, lambda invocation: self.api.list(MODEL, VERSION, invocation))

    def read(self, kind: str, sha256: str, *, key: str = "auditor-key") -> tuple[int, dict[str, Any]]:
        return self._call(key, lambda invocation: self.api.read(MODEL, VERSION, kind, sha256, invocation))

    def _call(self, key: str, route: Any) -> tuple[int, dict[str, Any]]:
        invocation = Invocation(
            invocation_id=uuid.uuid4().hex, headers={"x-api-key": key, "content-type": "application/json"}
        )
        answer = route(invocation)
        events = [event for event in self.audit.events if event.invocation_id == invocation.invocation_id]
        assert len(events) == 1 and events[0].status_code == answer.status
        return answer.status, answer.body


def document(document_format: str, content: bytes) -> dict[str, str]:
    return {"format": document_format, "content_base64": base64.b64encode(content).decode()}


@pytest.fixture
def desk() -> Archive:
    return Archive()


def test_an_archived_document_is_signed_locked_ten_years_and_read_back_byte_equal(desk: Archive) -> None:
    status, body = desk.put("technical-documentation", document("markdown", MARKDOWN))

    assert status == 201
    record = ArchivedDocument.model_validate(body)
    assert (record.kind, record.format, record.revision, record.archived_by) == (
        "technical-documentation",
        "markdown",
        1,
        "fraud-ml",
    )
    assert record.sha256 == hashlib.sha256(MARKDOWN).hexdigest() and record.size_bytes == len(MARKDOWN)
    assert record.archived_at == datetime.fromtimestamp(desk.clock.wall, UTC)
    assert record.retain_until - record.archived_at == timedelta(days=3653)
    assert record.retain_until >= record.archived_at.replace(year=record.archived_at.year + 10)
    assert document_signature_holds(record, desk.signer.public_key) and desk.signer.verifies(record)
    key = content_key(MODEL, VERSION, "technical-documentation", "markdown", record.sha256)
    assert record.location == desk.store.location(key) and key.startswith("models/card-fraud/v1/documents/")
    assert all(until == record.retain_until for _, until in desk.store.objects.values())

    status, read = desk.read("technical-documentation", record.sha256)
    assert status == 200 and base64.b64decode(read["content_base64"]) == MARKDOWN
    assert read["document"] == body
    assert desk.audit.events[0].details["location"] == record.location
    assert (desk.audit.events[0].use_case, desk.audit.events[0].model_version) == (USE_CASE, VERSION)


def test_the_same_bytes_again_are_the_same_revision_and_other_bytes_the_next(desk: Archive) -> None:
    first = desk.put("technical-documentation", document("markdown", MARKDOWN))
    desk.clock.wall += 60
    again = desk.put("technical-documentation", document("markdown", MARKDOWN))
    changed = desk.put("technical-documentation", document("markdown", MARKDOWN + b"\nAmended.\n"))
    other_format = desk.put("technical-documentation", document("html", b"<!doctype html><p>x</p>"))

    assert (first[0], again[0], changed[0], other_format[0]) == (201, 200, 201, 201)
    assert again[1] == first[1]
    assert (changed[1]["revision"], other_format[1]["revision"]) == (2, 1)
    status, listed = desk.list()
    assert status == 200
    assert [(d["format"], d["revision"]) for d in listed["documents"]] == [
        ("html", 1),
        ("markdown", 1),
        ("markdown", 2),
    ]
    assert desk.store.content(content_key(MODEL, VERSION, "technical-documentation", "markdown", first[1]["sha256"]))


def test_a_tampered_record_or_another_key_does_not_verify(desk: Archive) -> None:
    _, body = desk.put("bom", document("cyclonedx-json", BOM))
    record = ArchivedDocument.model_validate(body)

    moved = record.model_copy(update={"model_version": "v2"})
    assert not document_signature_holds(moved, desk.signer.public_key)
    assert not document_signature_holds(record, DocumentSigner.generate().public_key)


def test_only_a_role_that_archives_may_archive_and_readers_read(desk: Archive) -> None:
    for key in ("auditor-key", "client-key"):
        status, body = desk.put("technical-documentation", document("markdown", MARKDOWN), key=key)
        assert (status, body["error"]) == (403, "forbidden")
    assert desk.list(key="client-key")[0] == 403
    assert desk.list(key="ml-key")[0] == 200
    # A key scoped to another use case is told nothing of this one.
    assert desk.put("technical-documentation", document("markdown", MARKDOWN), key="other-ml-key")[0] == 404
    assert desk.store.objects == {}


@pytest.mark.parametrize(
    ("kind", "body", "field", "says"),
    [
        ("model-card", document("markdown", MARKDOWN), "kind", "no document kind 'model-card'"),
        ("bom", document("pdf", b"%PDF-1.3"), "format", "archived as cyclonedx-json, not pdf"),
        ("instructions", document("pdf", MARKDOWN), "content_base64", "does not start with %PDF-"),
        ("bom", document("cyclonedx-json", b"[]"), "content_base64", "not a CycloneDX document"),
        ("instructions", document("markdown", b"\xff\xfe"), "content_base64", "not UTF-8"),
        ("instructions", {"format": "markdown", "content_base64": "not base64!"}, "content_base64", "not base64"),
        ("instructions", {"format": "docx", "content_base64": "eA=="}, "format", "body is not a document"),
    ],
)
def test_a_bad_kind_format_or_content_is_refused_naming_it(
    desk: Archive, kind: str, body: dict[str, str], field: str, says: str
) -> None:
    status, answer = desk.put(kind, body)

    assert (status, answer["error"]) == (422, "invalid_request")
    assert [f["field"] for f in answer["fields"]] == [field]
    assert says in answer["message"]
    assert desk.store.objects == {}


def test_an_unknown_version_or_document_is_not_found(desk: Archive) -> None:
    status, answer = desk.put("technical-documentation", document("markdown", MARKDOWN), version="v9")
    assert (status, answer["error"]) == (404, "not_found") and "'v9'" in answer["message"]
    assert desk.read("bom", "0" * 64)[0] == 404
    status, answer = desk.read("bom", "not-a-sha")
    assert (status, [f["field"] for f in answer["fields"]]) == (422, ["sha256"])


def test_document_problem_accepts_each_kind_in_its_formats() -> None:
    assert document_problem("technical-documentation", "markdown", MARKDOWN) is None
    assert document_problem("instructions", "html", b"<p>x</p>") is None
    assert document_problem("instructions", "pdf", b"%PDF-1.7\n") is None
    assert document_problem("bom", "cyclonedx-json", BOM) is None
