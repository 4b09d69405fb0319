"""API Gateway REST (v1) proxy integration on 127.0.0.1, routed by the template's `Api` events.

Stage rule: API Gateway serves a stage at `https://<api>.execute-api.<region>.amazonaws.com/<stage>/<resource path>`.
Locally a request path is first read that way (its first segment is a stage of the API, and the rest is matched
against the routes); when that matches no resource, the whole path is matched as a resource path, as a custom
domain mapped at its root would serve it. So with stage `prod` and route `/v1/decisions/{id}`, both
`/prod/v1/decisions/x` and `/v1/decisions/x` reach the route; the event's `path` is the resource path and
`requestContext.path` carries the stage prefix either way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from embedded.emulation.exceptions import FunctionThrottledError, FunctionTimeoutError
from leaim.governance.access.headers import SECURITY_HEADERS

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from embedded.emulation.context import Invocable

logger = logging.getLogger(__name__)

# API Gateway's hard payload limit for REST APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024
_TEXT_TYPES = ("application/json", "application/xml", "application/x-www-form-urlencoded", "application/javascript")
_LITERAL, _PARAMETER, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Route:
    """One `Api` event: a method (or `ANY`) on a resource path template of one stage, served by a function."""

    resource: str
    method: str
    function: Invocable
    stage: str
    api_id: str

    @property
    def segments(self) -> tuple[str, ...]:
        """The resource path template split on `/`."""
        return _split(self.resource)

    @property
    def specificity(self) -> tuple[int, ...]:
        """Per segment: literal before `{param}` before `{proxy+}`; lower sorts first, as API Gateway prefers."""
        return tuple(_kind(segment) for segment in self.segments)

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """Path parameters when `segments` (decoded) fall under this resource, else None."""
        parameters: dict[str, str] = {}
        template = self.segments
        for index, pattern in enumerate(template):
            kind = _kind(pattern)
            if kind == _GREEDY:
                if index >= len(segments):
                    return None
                parameters[pattern[1:-2]] = "/".join(segments[index:])
                return parameters
            if index >= len(segments):
                return None
            if kind == _PARAMETER:
                parameters[pattern[1:-1]] = segments[index]
            elif pattern != segments[index]:
                return None
        return parameters if len(template) == len(segments) else None


def _split(path: str) -> tuple[str, ...]:
    return tuple(segment for segment in path.split("/") if segment)


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    if segment.startswith("{") and segment.endswith("}"):
        return _PARAMETER
    return _LITERAL


def _is_text(content_type: str | None, body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


class _GatewayError(Exception):
    """A response API Gateway produces itself rather than the integration."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiGateway:
    """A threading HTTP server that turns requests into proxy events and the handler's result into responses."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        region: str,
        account_id: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.routes = tuple(routes)
        self.region = region
        self.account_id = account_id
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._statuses: Counter[int] = Counter()
        self._throttled: Counter[str] = Counter()

    @property
    def url(self) -> str:
        """Root URL of the server, without a stage."""
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return int(self._server.server_address[1])

    @property
    def stats(self) -> dict[int, int]:
        """Responses sent so far, by status code."""
        with self._lock:
            return dict(self._statuses)

    @property
    def throttled(self) -> dict[str, int]:
        """Requests answered 500 because their function's concurrency was all in use, by function."""
        with self._lock:
            return dict(self._throttled)

    def start(self) -> None:
        """Bind and serve on a background thread."""
        gateway = self

        class Handler(_RequestHandler):
            owner = gateway

        self._server = ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server = None

    def count(self, status: int) -> None:
        """Record one response."""
        with self._lock:
            self._statuses[status] += 1

    def count_throttle(self, logical_id: str) -> None:
        """Record a request its function throttled."""
        with self._lock:
            self._throttled[logical_id] += 1

    def select(self, path: str, method: str) -> tuple[Route, dict[str, str], str] | None:
        """The route serving `method path`, its path parameters and the resource path (the stage rule above)."""
        segments = tuple(unquote(segment) for segment in _split(path))
        stages = {route.stage for route in self.routes}
        candidates: list[tuple[tuple[str, ...], str | None]] = []
        if segments and segments[0] in stages:
            candidates.append((segments[1:], segments[0]))
        candidates.append((segments, None))
        for remainder, stage in candidates:
            matches = [
                (route, parameters)
                for route in self.routes
                if stage is None or route.stage == stage
                for parameters in [route.match(remainder)]
                if parameters is not None
            ]
            if not matches:
                continue
            best = min(route.specificity for route, _ in matches)
            resource = [(route, parameters) for route, parameters in matches if route.specificity == best]
            for wanted in (method, "ANY"):
                for route, parameters in resource:
                    if route.method == wanted:
                        return route, parameters, "/" + "/".join(remainder)
            return None
        return None

    def event(
        self,
        route: Route,
        parameters: dict[str, str],
        *,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
    ) -> dict[str, Any]:
        """A complete REST API proxy event, shaped like `sam local generate-event apigateway aws-proxy`."""
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            single[name] = value
            multi.setdefault(name, []).append(value)
        single_query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            single_query[name] = value
            multi_query.setdefault(name, []).append(value)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        text = _is_text(content_type, body)
        now = datetime.now(UTC)
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": single_query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": route.api_id,
                "resourceId": hashlib.sha256(route.resource.encode()).hexdigest()[:6],
                "resourcePath": route.resource,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "path": f"/{route.stage}{path}",
                "stage": route.stage,
                "domainName": single.get("Host", f"{route.api_id}.execute-api.{self.region}.amazonaws.com"),
                "domainPrefix": route.api_id,
                "protocol": "HTTP/1.1",
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "accessKey": None,
                    "sourceIp": source_ip,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
                    "user": None,
                },
            },
            "body": (body.decode("utf-8") if text else base64.b64encode(body).decode("ascii")) if body else None,
            "isBase64Encoded": bool(body) and not text,
        }


class _RequestHandler(BaseHTTPRequestHandler):
    owner: ApiGateway
    protocol_version = "HTTP/1.1"
    server_version = "leaim-local-api-gateway"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def _serve(self) -> None:
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
            target = urlsplit(self.path)
            selected = self.owner.select(target.path, self.command)
            if selected is None:
                raise _GatewayError(403, "Missing Authentication Token")
            route, parameters, path = selected
            headers = list(self.headers.items())
            headers += [
                (name, value)
                for name, value in (
                    ("X-Forwarded-For", self.client_address[0]),
                    ("X-Forwarded-Port", str(self.owner.port)),
                    ("X-Forwarded-Proto", "http"),
                )
                if name.lower() not in {k.lower() for k, _ in headers}
            ]
            event = self.owner.event(
                route,
                parameters,
                method=self.command,
                path=path,
                query=target.query,
                headers=headers,
                body=body,
                source_ip=self.client_address[0],
                request_id=request_id,
            )
            self._integrate(route, event, request_id)
        except _GatewayError as response:
            self._send(response.status, _own_headers(), _message(response.message), request_id)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._discard(length)
            raise _GatewayError(413, "Request Too Long")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                break
            total += size
            chunk = self.rfile.read(size)
            self.rfile.readline()
            if total <= MAX_BODY_BYTES:
                parts.append(chunk)
        if total > MAX_BODY_BYTES:
            raise _GatewayError(413, "Request Too Long")
        return b"".join(parts)

    def _discard(self, length: int) -> None:
        # Reading what the client sends keeps it from failing on a reset socket before it sees the 413.
        while length > 0:
            chunk = self.rfile.read(min(_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)

    def _integrate(self, route: Route, event: dict[str, Any], request_id: str) -> None:
        try:
            result = route.function.invoke(event)
        except FunctionTimeoutError:
            logger.warning("%s %s: %s timed out", self.command, self.path, route.function.logical_id)
            raise _GatewayError(504, "Endpoint request timed out") from None
        except FunctionThrottledError:
            # A Lambda proxy integration cannot pass Lambda's 429 on: API Gateway answers it as an internal error.
            logger.warning("%s %s: %s throttled", self.command, self.path, route.function.logical_id)
            self.owner.count_throttle(route.function.logical_id)
            raise _GatewayError(500, "Internal server error") from None
        except Exception:
            logger.exception("%s %s: %s raised", self.command, self.path, route.function.logical_id)
            raise _GatewayError(502, "Internal server error") from None
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            logger.error("%s returned a malformed proxy response: %r", route.function.logical_id, result)
            raise _GatewayError(502, "Internal server error")
        headers: dict[str, list[str]] = {
            name: [str(v) for v in values] for name, values in (result.get("multiValueHeaders") or {}).items()
        }
        for name, value in (result.get("headers") or {}).items():
            headers.setdefault(name, [str(value)])
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = ["application/json"]
        raw = result.get("body")
        if raw is None:
            payload = b""
        elif result.get("isBase64Encoded"):
            payload = base64.b64decode(raw)
        else:
            payload = str(raw).encode("utf-8")
        self._send(result["statusCode"], headers, payload, request_id)

    def _send(self, status: int, headers: dict[str, list[str]], payload: bytes, request_id: str) -> None:
        self.owner.count(status)
        try:
            self.send_response(status)
            for name, values in headers.items():
                if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                    continue
                for value in values:
                    self.send_header(name, value)
            self.send_header("x-amzn-RequestId", request_id)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError) as error:
            # The client gave up before the answer (its own timeout): one line, as API Gateway logs it.
            logger.warning("%s %s: the client left before its %d answer: %s", self.command, self.path, status, error)
            self.close_connection = True

    # http.server dispatches each method to do_<METHOD>.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve  # noqa: N815


def _message(text: str) -> bytes:
    return json.dumps({"message": text}).encode("utf-8")


def _own_headers() -> dict[str, list[str]]:
    """The headers of an answer the gateway gives itself: its JSON type and the security headers every answer
    carries, as the functions' answers carry them."""
    return {"Content-Type": ["application/json"], **{name: [value] for name, value in SECURITY_HEADERS.items()}}
