"""The OpenAPI document: valid OpenAPI 3.1, built from the route table and the contracts, and committed current."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_spec_validator import validate

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionRequest, DecisionResponse
from contracts.error.v1 import ErrorResponse
from embedded.cli import main
from embedded.cli import openapi as openapi_command
from embedded.cli.exceptions import ApiUsageError
from embedded.cli.openapi import PAGE, TABLE_END, TABLE_START, document_text, page_text
from leaim.governance.access import openapi
from leaim.governance.access.gate import HttpAnswer
from leaim.governance.access.openapi import build_document, roles_allowed
from leaim.governance.access.routes import ROUTES
from tests.support.openapi import assert_documented

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REF = "#/components/schemas/{model}"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document("0.1.0")


def operation(document: dict[str, Any], operation_id: str) -> dict[str, Any]:
    [found] = [
        body
        for methods in document["paths"].values()
        for body in methods.values()
        if body["operationId"] == operation_id
    ]
    return found


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def test_the_committed_document_is_the_one_the_routes_and_contracts_make() -> None:
    assert openapi.DOCUMENT.read_text(encoding="utf-8") == document_text(), (
        "the routes or the contracts changed: write the document again with `uv run leaim openapi --write`"
    )
    assert json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))["info"]["version"] == version("leaim")


def test_the_page_lists_every_route_with_its_roles() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert page == page_text(page), "the routes changed: write the page's table with `uv run leaim openapi --write`"
    table = page.partition(TABLE_START)[2].partition(TABLE_END)[0]
    assert len([line for line in table.splitlines() if line.startswith("| `")]) == len(ROUTES)
    assert "| `POST /v1/decisions/{id}` | `createDecision` | DecisionApiFunction | `decision_client` | 200 |" in page
    public = "| `GET /openapi.json` | `readOpenApi` | GovernanceApiFunction | anyone, without a key | 200 | 500, 503 |"
    assert public in page


def test_the_check_command_fails_on_a_stale_document_or_page_and_write_makes_them_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document, page = tmp_path / "openapi.json", tmp_path / "openapi.md"
    monkeypatch.setattr(openapi, "DOCUMENT", document)
    monkeypatch.setattr(openapi_command, "PAGE", page)

    def leaim(*arguments: str) -> object:
        with pytest.raises(SystemExit) as exited:
            main(["--state-dir", str(tmp_path / "state"), *arguments])
        return exited.value.code

    current_page = PAGE.read_text(encoding="utf-8")
    edited = json.loads(document_text())
    del edited["paths"]["/v1/models"]
    document.write_text(json.dumps(edited), encoding="utf-8")
    page.write_text(current_page, encoding="utf-8")
    assert leaim("openapi") == 1
    document.write_text(document_text(), encoding="utf-8")
    page.write_text(current_page.replace("`listModels`", "`models`"), encoding="utf-8")
    assert leaim("openapi") == 1
    assert leaim("openapi", "--write") == 0
    assert (document.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")) == (document_text(), current_page)
    assert leaim("openapi") == 0


def test_a_page_without_the_table_markers_is_refused() -> None:
    with pytest.raises(ApiUsageError, match="no routes table"):
        page_text("# The OpenAPI document\n")


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "LEAIM"


def test_every_route_is_one_operation(document: dict[str, Any]) -> None:
    operations = {(path, method.upper()) for path, methods in document["paths"].items() for method in methods}
    assert operations == {(route.path, route.method) for route in ROUTES}
    for route in ROUTES:
        body = document["paths"][route.path][route.method.lower()]
        assert (body["operationId"], body["summary"], body["tags"]) == (
            route.operation_id,
            route.summary,
            [route.function],
        )


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for reference in references(document):
        section, kind, name = reference.removeprefix("#/").split("/")
        assert name in document[section][kind], reference


def test_keyed_routes_ask_for_the_key_and_name_the_roles_that_may_call_them(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "A key of one principal and role; keys are stored only as sha256 digests.",
    }
    for route in ROUTES:
        body = document["paths"][route.path][route.method.lower()]
        assert body["security"] == ([] if route.public else [{"ApiKey": []}])
        assert body["x-leaim-roles"] == roles_allowed(route)
        assert body["x-leaim-touches"] == route.touches.value
    assert operation(document, "createDecision")["x-leaim-roles"] == ["decision_client"]
    assert operation(document, "readDecision")["x-leaim-roles"] == ["auditor", "decision_client", "reviewer"]
    assert operation(document, "searchAuditEvents")["x-leaim-permission"] == "audit:read"


def test_error_answers_are_error_responses_and_retryable_ones_say_when(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    for name, response in responses.items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
        retryable = name in {"Error429", "Error503"}
        assert ("headers" in response) is retryable
        if retryable:
            assert response["headers"] == {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    for route in ROUTES:
        answers = document["paths"][route.path][route.method.lower()]["responses"]
        assert {int(status) for status in answers} == {answer.status for answer in route.answers} | route.errors
        for status in route.errors:
            assert answers[str(status)] == {"$ref": f"#/components/responses/Error{status}"}


def test_requests_are_described_as_validated_and_answers_as_serialized(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    create = operation(document, "createDecision")
    assert create["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DecisionRequest"}}},
    }
    request = DecisionRequest.model_json_schema(mode="validation", ref_template=REF)
    answer = DecisionResponse.model_json_schema(mode="serialization", ref_template=REF)
    error = ErrorResponse.model_json_schema(mode="serialization", ref_template=REF)
    for model, schema in (("DecisionRequest", request), ("DecisionResponse", answer), ("ErrorResponse", error)):
        assert schemas[model] == {key: value for key, value in schema.items() if key != "$defs"}
        for name, definition in schema.get("$defs", {}).items():
            assert schemas[name] == definition
    assert "$defs" not in json.dumps(document)


def test_an_optional_body_and_the_parameters_are_declared(document: dict[str, Any]) -> None:
    assert operation(document, "rollbackTraffic")["requestBody"]["required"] is False
    parameters = {p["name"]: p for p in operation(document, "listQuarantine")["parameters"]}
    assert parameters["dataset"]["in"] == "path" and parameters["dataset"]["required"] is True
    assert parameters["limit"] == {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "How many items one page holds at most.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    }
    assert "parameters" not in operation(document, "listModels")


def test_the_audit_search_answers_json_pages_and_text_exports(document: dict[str, Any]) -> None:
    content = operation(document, "searchAuditEvents")["responses"]["200"]["content"]
    assert content == {
        "application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
    }


def test_a_replayed_decision_declares_its_header(document: dict[str, Any]) -> None:
    headers = operation(document, "createDecision")["responses"]["200"]["headers"]
    assert set(headers) == {"x-idempotent-replay"}


def test_the_answer_check_refuses_what_the_document_does_not_declare() -> None:
    event = AuditEvent(
        event_id="e-1",
        occurred_at=datetime.now(UTC),
        source="LifecycleApiFunction",
        action="model.list",
        invocation_id="i-1",
        outcome="success",
        trace_id="t-1",
        duration_ms=1.0,
    )
    assert_documented(HttpAnswer(200, {"models": []}), event)
    with pytest.raises(AssertionError, match="which the document does not declare"):
        assert_documented(HttpAnswer(404, {"error": "not_found", "message": "x"}), event)
    with pytest.raises(SchemaError):
        assert_documented(HttpAnswer(200, {"models": "none"}), event)
    with pytest.raises(AssertionError, match="without Retry-After"):
        assert_documented(HttpAnswer(503, {"error": "audit_unavailable", "message": "x"}), event)
