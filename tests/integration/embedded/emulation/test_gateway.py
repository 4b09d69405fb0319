from __future__ import annotations

import http.client
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from embedded.emulation.gateway import MAX_BODY_BYTES
from leaim.governance.access.headers import SECURITY_HEADERS
from tests.integration.embedded.emulation.conftest import FIXTURES

if TYPE_CHECKING:
    import boto3

    from embedded.emulation.stack import LocalStack


def _request(
    stack: LocalStack, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    url = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request(method, url.path + path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _event(stack: LocalStack, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    status, _, body = _request(stack, method, path, **kwargs)
    assert status == 200, body
    return json.loads(body)["event"]


def test_event_has_every_field_of_the_sam_proxy_event(stack: LocalStack) -> None:
    sample = json.loads((FIXTURES / "apigateway_aws_proxy.json").read_text())
    event = _event(stack, "GET", "/v1/items/42?color=red&color=blue&size=", headers={"X-Trace": "t-1"})
    assert set(sample) <= set(event)
    assert set(sample["requestContext"]) <= set(event["requestContext"])
    assert set(sample["requestContext"]["identity"]) <= set(event["requestContext"]["identity"])
    assert event["resource"] == "/v1/items/{item_id}"
    assert event["path"] == "/v1/items/42"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "42"}
    assert event["queryStringParameters"] == {"color": "blue", "size": ""}
    assert event["multiValueQueryStringParameters"] == {"color": ["red", "blue"], "size": [""]}
    assert event["headers"]["X-Trace"] == "t-1"
    assert event["multiValueHeaders"]["X-Trace"] == ["t-1"]
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/v1/items/{item_id}"
    assert context["path"] == "/v1/v1/items/42"
    assert context["stage"] == "v1"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["accountId"] == "123456789012"
    assert isinstance(context["requestTimeEpoch"], int)


def test_literal_segment_wins_over_a_parameter(stack: LocalStack) -> None:
    assert _event(stack, "GET", "/v1/items/special")["resource"] == "/v1/items/special"
    assert _event(stack, "GET", "/v1/items/ordinary")["resource"] == "/v1/items/{item_id}"


def test_routes_match_with_or_without_the_stage_prefix(stack: LocalStack) -> None:
    url = urlsplit(stack.api_url)
    assert url.path == "/v1"
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("GET", "/v1/items/7")
    response = connection.getresponse()
    event = json.loads(response.read())["event"]
    connection.close()
    assert (event["path"], event["requestContext"]["path"]) == ("/v1/items/7", "/v1/v1/items/7")


def test_greedy_proxy_with_any_method_and_binary_body(stack: LocalStack) -> None:
    payload = bytes(range(256))
    status, headers, body = _request(
        stack, "PUT", "/v1/files/a/b/c.bin", body=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert status == 200
    assert body == payload[::-1]
    assert headers.get_all("X-Part") == ["one", "two"]
    assert headers["x-amzn-RequestId"]


@pytest.mark.parametrize(
    ("content_type", "payload", "encoded"),
    [
        ("application/octet-stream", b"plain", "true"),
        ("image/png", b"\x89PNG", "true"),
        ("application/json", b'{"a": 1}', "false"),
        ("text/plain; charset=utf-8", "h\u00e9".encode(), "false"),
        ("text/plain", b"\xff\xfe", "true"),
    ],
)
def test_non_text_bodies_arrive_base64_encoded(
    stack: LocalStack, content_type: str, payload: bytes, encoded: str
) -> None:
    status, headers, body = _request(stack, "POST", "/v1/files/x", body=payload, headers={"Content-Type": content_type})
    assert status == 200
    assert (headers["X-Request-Base64"], body) == (encoded, payload[::-1])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nowhere"), ("DELETE", "/v1/items/special"), ("GET", "/v1/files"), ("GET", "/")],
)
def test_no_route_is_403_missing_authentication_token(stack: LocalStack, method: str, path: str) -> None:
    status, headers, body = _request(stack, method, path)
    assert status == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["Content-Type"] == "application/json"
    assert _security_headers(headers) == SECURITY_HEADERS


def test_body_over_ten_megabytes_is_413(stack: LocalStack) -> None:
    status, headers, body = _request(stack, "POST", "/v1/notes", body=b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413
    assert json.loads(body) == {"message": "Request Too Long"}
    assert _security_headers(headers) == SECURITY_HEADERS


def test_handler_exception_is_502(stack: LocalStack) -> None:
    status, headers, body = _request(stack, "GET", "/v1/boom")
    assert status == 502
    assert json.loads(body) == {"message": "Internal server error"}
    assert _security_headers(headers) == SECURITY_HEADERS


def _security_headers(headers: http.client.HTTPMessage) -> dict[str, str | None]:
    return {name: headers[name] for name in SECURITY_HEADERS}


def test_handler_past_its_timeout_is_504(stack: LocalStack) -> None:
    status, _, body = _request(stack, "GET", "/v1/slow")
    assert status == 504
    assert json.loads(body) == {"message": "Endpoint request timed out"}


def test_handler_writes_through_to_the_declared_table(stack: LocalStack, session: boto3.session.Session) -> None:
    status, headers, body = _request(
        stack,
        "POST",
        "/v1/notes",
        body=json.dumps({"id": "n1", "text": "hi"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert (status, headers["Location"], body) == (201, "/v1/notes/n1", b"")
    table = session.resource("dynamodb").Table(stack.table_name("DeliveriesTable"))
    assert table.get_item(Key={"pk": "note#n1"})["Item"]["text"] == "hi"


def test_chalice_app_is_served(stack: LocalStack) -> None:
    status, _, body = _request(stack, "GET", "/v1/greetings/ada?lang=fr")
    assert status == 200
    assert json.loads(body) == {"greeting": "hello, ada", "lang": "fr"}
    status, _, body = _request(
        stack, "POST", "/v1/greetings", body=b'{"text": "hey"}', headers={"Content-Type": "application/json"}
    )
    assert status == 201
    assert json.loads(body) == {"received": {"text": "hey"}}


def test_stats_count_responses_by_status(stack: LocalStack) -> None:
    before = stack.stats.api.get(403, 0)
    _request(stack, "GET", "/v1/nowhere")
    assert stack.stats.api[403] == before + 1
