"""The OpenAPI 3.1 document of every API, built from the route table and the contracts' JSON Schemas.

Pure: it reads and writes nothing. `leaim openapi --write` writes what `build_document` builds to `DOCUMENT`
(`contracts/openapi.json`, shipped in the contracts layer), which the governance API serves at
`GET /openapi.json`; the tests fail when the routes or the contracts change and the file was not written again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic.json_schema import models_json_schema

from contracts.error.v1 import ErrorResponse
from contracts.published import SCHEMAS
from leaim.governance.access.gate import API_KEY_HEADER
from leaim.governance.access.policy import ROLE_PERMISSIONS
from leaim.governance.access.routes import (
    DECISION_API,
    ERROR_STATUSES,
    GOVERNANCE_API,
    INGEST_API,
    LIFECYCLE_API,
    RETRY_AFTER,
    ROUTES,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pydantic import BaseModel
    from pydantic.json_schema import JsonSchemaMode

    from leaim.governance.access.routes import Answer, Parameter, Route

DOCUMENT = SCHEMAS.parent / "openapi.json"
OPENAPI_VERSION = "3.1.0"
TITLE = "LEAIM"
SECURITY_SCHEME = "ApiKey"
RETRY_AFTER_HEADER = "Retry-After"
# The API Gateway stages of `template.yaml` (its `Stage` parameter), the first its default.
STAGES = ("prod", "staging", "dev")
LOCAL_PORT = "3000"

DESCRIPTION = (
    "Governed ML decisions: the decision API, ingestion and datasets, the model lifecycle and governance. "
    "Every route but this document's asks for an API key in `x-api-key`; `x-leaim-roles` lists the roles whose "
    "keys may call it. Every answer, refusals and failures included, is audited once; every error body is an "
    "`ErrorResponse` naming its code and, where there are any, the offending fields."
)
FUNCTIONS = {
    DECISION_API: "The decision API (LEAIM layer 4): governed decisions.",
    GOVERNANCE_API: "The governance API (LEAIM layer 5): audit, outcomes, reviews, monitoring, this document.",
    INGEST_API: "The ingestion API (LEAIM layer 1): records, quarantine and dataset snapshots.",
    LIFECYCLE_API: "The lifecycle API (LEAIM layer 2): training jobs, the registry and traffic policies.",
}

Refs = dict[tuple[type["BaseModel"], "JsonSchemaMode"], dict[str, Any]]


def build_document(version: str) -> dict[str, Any]:
    """The OpenAPI document of every route of `ROUTES`, `version` being the platform's."""
    schemas, refs = _schemas(ROUTES)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": version, "description": DESCRIPTION},
        "servers": [
            {
                "url": "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
                "description": "A deployment of template.yaml: its REST API's id, region and stage.",
                "variables": {
                    "api_id": {"default": "api-id", "description": "The REST API's id (`sam deploy` prints it)."},
                    "region": {"default": "us-east-1", "description": "The AWS region of the stack."},
                    "stage": {"default": STAGES[0], "enum": list(STAGES), "description": "The stage."},
                },
            },
            {
                "url": "http://127.0.0.1:{port}",
                "description": "The embedded default (`leaim up`).",
                "variables": {"port": {"default": LOCAL_PORT, "description": "The port of `leaim up --port`."}},
            },
        ],
        "tags": [{"name": name, "description": description} for name, description in FUNCTIONS.items()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {_error_name(status): _error(status) for status in sorted(ERROR_STATUSES)},
            "headers": {
                RETRY_AFTER_HEADER: {
                    "description": "Seconds to wait before sending the same request again.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": "A key of one principal and role; keys are stored only as sha256 digests.",
                }
            },
        },
    }


def roles_allowed(route: Route) -> list[str]:
    """The roles whose keys may call `route`, by name; none for a public route, which asks for no key."""
    return sorted(role for role, permissions in ROLE_PERMISSIONS.items() if route.permission in permissions)


def _schemas(routes: Iterable[Route]) -> tuple[dict[str, Any], Refs]:
    """Every contract's JSON Schema as a component, and the reference to each (contract, mode).

    Requests are described as they are validated and answers as they are serialized; a contract whose two
    schemas differ gets one component of each, as pydantic names them.
    """
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorResponse, "serialization"): None}
    for route in routes:
        if route.request is not None:
            wanted[route.request, "validation"] = None
        for answer in route.answers:
            if answer.contract is not None:
                wanted[answer.contract, "serialization"] = None
    refs, document = models_json_schema(list(wanted), ref_template="#/components/schemas/{model}")
    return dict(sorted(document.get("$defs", {}).items())), {key: refs[key] for key in wanted}


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.function],
        "security": [] if route.public else [{SECURITY_SCHEME: []}],
        "x-leaim-roles": roles_allowed(route),
        "x-leaim-touches": route.touches.value,
    }
    if route.permission is not None:
        operation["x-leaim-permission"] = route.permission.value
    parameters = [_parameter(parameter, "path") for parameter in route.path_parameters]
    parameters += [_parameter(parameter, "query") for parameter in route.query]
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None:
        operation["requestBody"] = {
            "required": route.request_required,
            "content": {"application/json": {"schema": refs[route.request, "validation"]}},
        }
    responses = {str(answer.status): _answer(answer, refs) for answer in route.answers}
    responses |= {str(status): {"$ref": f"#/components/responses/{_error_name(status)}"} for status in route.errors}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _parameter(parameter: Parameter, where: str) -> dict[str, Any]:
    return {
        "name": parameter.name,
        "in": where,
        "required": where == "path",
        "description": parameter.description,
        "schema": parameter.schema(),
    }


def _answer(answer: Answer, refs: Refs) -> dict[str, Any]:
    if answer.contract is not None:
        content = {"application/json": {"schema": refs[answer.contract, "serialization"]}}
    elif answer.text:
        content = {}
    else:
        content = {"application/json": {"schema": {"type": "object"}}}
    content |= {media: {"schema": {"type": "string"}} for media in answer.text}
    response: dict[str, Any] = {"description": answer.description, "content": content}
    if answer.headers:
        response["headers"] = {
            name: {"description": description, "schema": {"type": "string"}} for name, description in answer.headers
        }
    return response


def _error_name(status: int) -> str:
    return f"Error{status}"


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_STATUSES[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}}},
    }
    if status in RETRY_AFTER:
        response["headers"] = {RETRY_AFTER_HEADER: {"$ref": f"#/components/headers/{RETRY_AFTER_HEADER}"}}
    return response
