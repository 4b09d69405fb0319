"""The HTTP client the API clients share: one URL, one key, and a one-line error for any answer other than 2xx.

The clients only speak HTTP, so they work the same against the local stack of `leaim up` and a deployed API.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from embedded.clients.exceptions import ApiCallError
from embedded.clients.http import Answer, Sent, send

if TYPE_CHECKING:
    from collections.abc import Mapping

Model = TypeVar("Model", bound=BaseModel)


class ApiClient:
    """Calls the API at one URL with one key; a non-2xx answer raises `ApiCallError` with a one-line message."""

    def __init__(self, api_url: str, api_key: str, *, timeout_s: float = 120.0) -> None:
        """Call the API at `api_url` (the stage's base URL) with `api_key` in `x-api-key`."""
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s

    def _call(self, model: type[Model], method: str, path: str, body: object | None = None) -> Model:
        return self._parsed(model, method, path, self._send(method, path, body))

    def _send(self, method: str, path: str, body: object | None = None) -> Answer:
        """The 2xx answer to one call; `ApiCallError` for no answer or another status."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"x-api-key": self._api_key, "content-type": "application/json"}
        route = _route(method, path)
        try:
            answer = send(self.api_url, Sent(route, method, path, payload, headers), self._timeout_s)
        except (OSError, http.client.HTTPException) as error:
            raise ApiCallError(f"{route}: no answer from {self.api_url}: {getattr(error, 'reason', error)}") from error
        if not 200 <= answer.status < 300:
            raise ApiCallError(f"{route} answered {answer.status} {_problem(answer.body)}")
        return answer

    @staticmethod
    def _parsed(model: type[Model], method: str, path: str, answer: Answer) -> Model:
        try:
            return model.model_validate(answer.body)
        except ValidationError as error:
            raise ApiCallError(
                f"{_route(method, path)} answered {answer.status} with a body that is not {model.__name__}"
            ) from error


def segment(name: str) -> str:
    """`name` quoted as one segment of a path, so a `/` in it cannot reach another route."""
    return urllib.parse.quote(name, safe="")


def with_query(path: str, values: Mapping[str, object]) -> str:
    """`path` with the values that are not None as its query string; times in ISO 8601."""
    shown = {
        name: value.isoformat() if isinstance(value, datetime) else str(value)
        for name, value in values.items()
        if value is not None
    }
    return f"{path}?{urllib.parse.urlencode(shown)}" if shown else path


def _route(method: str, path: str) -> str:
    return f"{method} {path.partition('?')[0]}"


def _problem(body: Mapping[str, Any]) -> str:
    """The error code, message and offending fields of an error body, on one line."""
    if "error" not in body:
        return _one_line(str(body.get("raw", body)))[:300]
    text = f"{body['error']}: {body.get('message', '')}"
    fields = [f"{field.get('field')} {field.get('message')}" for field in body.get("fields") or []]
    if fields:
        text += f" ({'; '.join(fields)})"
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())
