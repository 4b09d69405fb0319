"""One HTTP request and its timed answer: what the API clients and the demos' traffic send to an API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Sent:
    """One HTTP request of the traffic and what it was meant to test."""

    kind: str
    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(slots=True)
class Answer:
    """What came back."""

    kind: str
    status: int
    body: dict[str, Any]
    seconds: float
    replay: bool = False
    # The body as sent, for answers that are not JSON (an export).
    raw: bytes = b""


def send(api_url: str, request: Sent, timeout_s: float = 10.0) -> Answer:
    """Send one request to the local gateway and time it."""
    headers = dict(request.headers)
    if request.body and not any(name.lower() == "content-type" for name in headers):
        # urllib would send a body as a form; the API reads JSON, and refuses other media types.
        headers["content-type"] = "application/json"
    http_request = urllib.request.Request(  # noqa: S310 - the URL is the local gateway's own
        api_url.rstrip("/") + request.path,
        data=request.body or None,
        method=request.method,
        headers=headers,
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(http_request, timeout=timeout_s) as response:  # noqa: S310
            payload, status = response.read(), response.status
            replay = response.headers.get("x-idempotent-replay") == "true"
    except urllib.error.HTTPError as error:
        payload, status, replay = error.read(), error.code, False
    seconds = time.perf_counter() - started
    try:
        body = json.loads(payload) if payload else {}
    except json.JSONDecodeError:
        body = {"raw": payload.decode("utf-8", "replace")}
    return Answer(request.kind, status, body if isinstance(body, dict) else {"value": body}, seconds, replay, payload)
