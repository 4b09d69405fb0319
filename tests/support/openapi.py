"""Real answers checked against the committed OpenAPI document: the route their event names, status, body, headers.

The API test harnesses pass every answer they get through `assert_documented`, so each status a test provokes
must be one its route declares, and each body must match the schema declared for it.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from openapi_schema_validator import OAS31Validator

from leaim.governance.access import openapi
from leaim.governance.access.gate import Invocation
from leaim.governance.access.routes import RETRY_AFTER, ROUTES

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from contracts.audit.v1 import AuditEvent
    from leaim.governance.access.gate import HttpAnswer
    from leaim.governance.access.routes import Route

JSON = "application/json"
REFERENCE = "#/components/responses/"


@functools.cache
def document() -> dict[str, Any]:
    """The committed document, read once."""
    loaded: dict[str, Any] = json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))
    return loaded


def route_of(source: str, action: str) -> Route:
    """The route whose invocations store events of `source` (a function) and `action`."""
    found = [route for route in ROUTES if (route.function, route.action) == (source, action)]
    assert len(found) == 1, f"no route of {source} is audited as {action!r}"
    return found[0]


@functools.cache
def _validator(path: str, method: str, status: str) -> OAS31Validator:
    """The validator of the JSON body a route answers with `status`."""
    return _body_validator(document()["paths"][path][method]["responses"][status])


def _body_validator(response: dict[str, Any]) -> OAS31Validator:
    if "$ref" in response:
        response = document()["components"]["responses"][response["$ref"].removeprefix(REFERENCE)]
    schema = response["content"][JSON]["schema"]
    # The schema's references point into the document's components: it is validated with them at hand.
    return OAS31Validator({**schema, "components": document()["components"]})


def assert_documented(answer: HttpAnswer, event: AuditEvent) -> None:
    """`answer`, whose invocation stored `event`, is one its route declares: status, media type, body, headers."""
    route = route_of(event.source, event.action)
    method = route.method.lower()
    responses = document()["paths"][route.path][method]["responses"]
    status = str(answer.status)
    assert status in responses, f"{route.method} {route.path} answered {status}, which the document does not declare"
    media = answer.headers.get("content-type", JSON)
    if media != JSON:
        assert media in responses[status]["content"], f"{route.method} {route.path} answered {media} text"
        assert answer.text is not None
        return
    _validator(route.path, method, status).validate(answer.body)
    if answer.status in RETRY_AFTER:
        assert "retry-after" in answer.headers, f"{route.method} {route.path} answered {status} without Retry-After"


class Documented:
    """An API object whose every route method's answer is checked with `assert_documented`.

    `events` gives the audit events stored so far; the one a call stored is the latest of its invocation's id.
    """

    def __init__(self, api: object, events: Callable[[], Sequence[AuditEvent]]) -> None:
        self._api = api
        self._events = events

    def __getattr__(self, name: str) -> Any:
        route = getattr(self._api, name)

        @functools.wraps(route)
        def checked(*args: Any) -> HttpAnswer:
            answer: HttpAnswer = route(*args)
            [invocation] = [argument for argument in args if isinstance(argument, Invocation)]
            stored = [
                event
                for event in self._events()
                if event.invocation_id == invocation.invocation_id and not event.source.startswith("worker:")
            ]
            if stored:
                # A test may send the same invocation id twice: the latest event is this call's.
                assert_documented(answer, stored[-1])
            else:
                # The audit store refused the event: every route answers that 503, with an ErrorResponse.
                assert answer.status == 503, f"{name} answered {answer.status} and stored no audit event"
                _body_validator({"$ref": f"{REFERENCE}Error503"}).validate(answer.body)
            return answer

        return checked
