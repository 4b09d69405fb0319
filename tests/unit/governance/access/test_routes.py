"""The route table is exactly what the Chalice apps and `template.yaml` declare, and says the same thing each way.

The apps are read from their source rather than imported: importing the decision API builds its services.
"""

from __future__ import annotations

import ast
import re

import pytest
from pydantic import ValidationError

from embedded.emulation.template import ApiEvent, load_template
from leaim.governance.access.policy import ROLE_PERMISSIONS
from leaim.governance.access.routes import (
    BODY_ERRORS,
    ERROR_STATUSES,
    KEYED_ERRORS,
    PUBLIC_ERRORS,
    ROUTES,
    Route,
    Touches,
)
from tests.support.paths import REPOSITORY, TEMPLATE

CHALICE_HANDLER = "app.app"
# The kind of object each path parameter names; `{id}` names a use case only where a decision is asked for.
OBJECT_OF_PARAMETER = {
    "use_case": Touches.USE_CASE,
    "dataset": Touches.DATASET,
    "model": Touches.MODEL,
    "id": Touches.DECISION,
    "review_id": Touches.REVIEW,
    "job_id": Touches.TRAINING_JOB,
}
USE_CASE_BY_ID = {("POST", "/v1/decisions/{id}")}

Declared = set[tuple[str, str, str]]


def chalice_routes() -> dict[tuple[str, str, str], str]:
    """(function logical id, method, path) -> action of every `@app.route` of every Chalice app the template deploys.

    The action is the one the route's log line names: the first string its body passes to a call.
    """
    declared: dict[tuple[str, str, str], str] = {}
    for function in load_template(TEMPLATE).functions.values():
        if function.handler != CHALICE_HANDLER:
            continue
        tree = ast.parse((REPOSITORY / function.code_uri / "app.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if not (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "route"
                    and isinstance(decorator.func.value, ast.Name)
                    and decorator.func.value.id == "app"
                ):
                    continue
                path = ast.literal_eval(decorator.args[0])
                methods = next(
                    (ast.literal_eval(keyword.value) for keyword in decorator.keywords if keyword.arg == "methods"),
                    ["GET"],
                )
                for method in methods:
                    declared[function.logical_id, method.upper(), path] = _logged_action(node)
    return declared


def _logged_action(route: ast.FunctionDef) -> str:
    for node in (node for statement in route.body for node in ast.walk(statement)):
        if isinstance(node, ast.Call):
            for argument in node.args:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    return argument.value
    raise AssertionError(f"{route.name} logs no action")


def template_routes() -> Declared:
    """(function logical id, method, path) of every `Api` event of the template."""
    return {
        (function.logical_id, event.method, event.path)
        for function in load_template(TEMPLATE).functions.values()
        for event in function.events
        if isinstance(event, ApiEvent)
    }


def table_routes() -> Declared:
    return {(route.function, route.method, route.path) for route in ROUTES}


def test_the_table_holds_each_route_once() -> None:
    assert len(table_routes()) == len(ROUTES)
    assert len({route.operation_id for route in ROUTES}) == len(ROUTES)
    assert len({(route.function, route.action) for route in ROUTES}) == len(ROUTES)


def test_the_table_is_every_route_the_chalice_apps_declare_with_the_action_each_logs() -> None:
    declared = chalice_routes()
    assert len(declared) >= 28
    assert {(route.function, route.method, route.path): route.action for route in ROUTES} == declared


def test_the_table_is_every_api_event_of_the_template() -> None:
    assert table_routes() == template_routes()


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.operation_id)
def test_path_parameters_are_those_of_the_path_in_order(route: Route) -> None:
    assert [parameter.name for parameter in route.path_parameters] == re.findall(r"\{([^}]+)\}", route.path)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.operation_id)
def test_the_object_a_route_touches_is_the_one_its_path_parameter_names(route: Route) -> None:
    if not route.path_parameters:
        assert route.touches is Touches.NONE
    elif (route.method, route.path) in USE_CASE_BY_ID:
        assert route.touches is Touches.USE_CASE
    else:
        assert route.touches is OBJECT_OF_PARAMETER[route.path_parameters[0].name]


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.operation_id)
def test_operation_ids_are_camel_case_verbs(route: Route) -> None:
    assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)+", route.operation_id)


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.operation_id)
def test_errors_are_those_every_route_of_its_kind_answers(route: Route) -> None:
    assert route.errors <= set(ERROR_STATUSES)
    assert all(400 <= status < 600 for status in route.errors)
    assert all(200 <= answer.status < 300 for answer in route.answers)
    if route.public:
        assert route.errors == PUBLIC_ERRORS
    else:
        assert route.errors >= KEYED_ERRORS
    if route.request is not None:
        assert route.errors >= set(BODY_ERRORS)
    else:
        assert route.errors.isdisjoint({400})


@pytest.mark.parametrize(
    "route", [route for route in ROUTES if route.request is not None], ids=lambda route: route.operation_id
)
def test_an_optional_body_is_one_whose_defaults_make_a_whole_request(route: Route) -> None:
    assert route.request is not None
    if route.request_required:
        with pytest.raises(ValidationError):
            route.request.model_validate({})
    else:
        route.request.model_validate({})


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.operation_id)
def test_some_role_may_call_every_keyed_route(route: Route) -> None:
    if not route.public:
        assert any(route.permission in permissions for permissions in ROLE_PERMISSIONS.values())


def test_query_parameters_are_named_once_per_route() -> None:
    for route in ROUTES:
        names = [parameter.name for parameter in route.query]
        assert len(names) == len(set(names)), route.operation_id


def test_a_query_parameter_schema_carries_its_type_bounds_and_default() -> None:
    search = next(route for route in ROUTES if route.operation_id == "searchAuditEvents")
    query = {parameter.name: parameter.schema() for parameter in search.query}
    assert query["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert query["format"] == {"type": "string", "enum": ["json", "jsonl", "csv"], "default": "json"}
    assert query["since"] == {"type": "string", "format": "date-time"}
    assert query["outcome"]["enum"] == ["success", "rejected", "fallback", "error", "duplicate"]
