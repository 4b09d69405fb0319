"""The Chalice glue: every answer leaves with its body, its status, its own headers and the security headers."""

from __future__ import annotations

import json

from leaim.adapters.chalice import respond
from leaim.governance.access.gate import HttpAnswer
from leaim.governance.access.headers import SECURITY_HEADERS

EXPECTED = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_the_security_headers_are_the_published_ones() -> None:
    assert dict(SECURITY_HEADERS) == EXPECTED


def test_a_json_answer_carries_its_headers_and_the_security_headers() -> None:
    response = respond(HttpAnswer(200, {"decision_id": "d-1"}, {"x-idempotent-replay": "true"}))
    assert (response.status_code, json.loads(response.body)) == (200, {"decision_id": "d-1"})
    assert response.headers == {"content-type": "application/json", "x-idempotent-replay": "true", **EXPECTED}


def test_an_error_and_an_export_carry_the_security_headers() -> None:
    error = respond(HttpAnswer(503, {"error": "audit_unavailable"}, {"retry-after": "1"}))
    export = respond(HttpAnswer(200, {}, {"content-type": "text/csv"}, text="event_id\n"))
    assert error.headers == {"content-type": "application/json", "retry-after": "1", **EXPECTED}
    assert (export.body, export.headers) == ("event_id\n", {"content-type": "text/csv", **EXPECTED})


def test_no_answer_header_replaces_a_security_header() -> None:
    response = respond(HttpAnswer(200, {}, {"cache-control": "max-age=3600"}))
    assert response.headers["cache-control"] == "no-store"
