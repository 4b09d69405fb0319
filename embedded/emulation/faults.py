"""Faults injected into the local AWS endpoint: a WSGI middleware in front of moto, driven over HTTP.

A fault makes one service (DynamoDB, DynamoDB Streams, S3, SQS, Kinesis) answer a fraction of its requests
with an error or a throttle, for a while, in the service's own wire format: JSON with `__type` for the JSON
protocols, XML for S3 and SQS's query protocol. botocore reads them as the AWS errors they stand for, so its
retry logic (by status for 500 and 503, by code for the throttles) treats them as AWS would make it.

The service is read from the request as AWS reads it: the `X-Amz-Target` prefix of the JSON protocols, else the
service name in the SigV4 credential scope (the `Authorization` header, or `X-Amz-Credential` of a presigned
URL). A refused request never reaches moto.

The middleware answers its own route on the endpoint, so that another process can drive a running stack:
`POST /_leaim/faults` with a fault as JSON (`{"service": "dynamodb", "kind": "throttle", "rate": 0.5,
"duration_s": 10}`) injects it, replacing that service's fault; `GET` lists the faults in force with the
requests each refused; `DELETE` lifts them all, or one service's with `?service=`. `FaultControl` is its client.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CONTROL_PATH = "/_leaim/faults"

Service = Literal["dynamodb", "dynamodbstreams", "s3", "sqs", "kinesis"]
FaultKind = Literal["error", "unavailable", "throttle"]
SERVICES: tuple[Service, ...] = get_args(Service)
KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

# The prefix of `X-Amz-Target` of each service that speaks a JSON protocol.
_TARGET_PREFIXES: tuple[tuple[str, Service], ...] = (
    ("DynamoDBStreams_", "dynamodbstreams"),
    ("DynamoDB_", "dynamodb"),
    ("Kinesis_", "kinesis"),
    ("AmazonSQS.", "sqs"),
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_JSON_CONTENT_TYPES: Mapping[Service, str] = {
    "dynamodb": "application/x-amz-json-1.0",
    "dynamodbstreams": "application/x-amz-json-1.0",
    "kinesis": "application/x-amz-json-1.1",
    "sqs": "application/x-amz-json-1.0",
}
_NAMESPACES: Mapping[Service, str] = {
    "dynamodb": "com.amazonaws.dynamodb.v20120810",
    "dynamodbstreams": "com.amazonaws.dynamodb.v20120810",
    "kinesis": "com.amazonaws.kinesis.v20131202",
    "sqs": "com.amazonaws.sqs",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a refused request is answered: HTTP status, AWS error code, and whether the caller is at fault."""

    status: int
    code: str
    sender: bool


# What each service answers, per kind: the codes AWS documents for a server failure, an outage and a throttle.
REFUSALS: Mapping[Service, Mapping[FaultKind, Refusal]] = {
    "dynamodb": {
        "error": Refusal(500, "InternalServerError", sender=False),
        "unavailable": Refusal(503, "ServiceUnavailable", sender=False),
        "throttle": Refusal(400, "ProvisionedThroughputExceededException", sender=True),
    },
    "dynamodbstreams": {
        "error": Refusal(500, "InternalServerError", sender=False),
        "unavailable": Refusal(503, "ServiceUnavailable", sender=False),
        "throttle": Refusal(400, "ThrottlingException", sender=True),
    },
    "kinesis": {
        "error": Refusal(500, "InternalFailure", sender=False),
        "unavailable": Refusal(503, "ServiceUnavailable", sender=False),
        "throttle": Refusal(400, "ProvisionedThroughputExceededException", sender=True),
    },
    "sqs": {
        "error": Refusal(500, "InternalError", sender=False),
        "unavailable": Refusal(503, "ServiceUnavailable", sender=False),
        "throttle": Refusal(400, "RequestThrottled", sender=True),
    },
    "s3": {
        "error": Refusal(500, "InternalError", sender=False),
        "unavailable": Refusal(503, "ServiceUnavailable", sender=False),
        "throttle": Refusal(503, "SlowDown", sender=False),
    },
}


class FaultSpecError(ValueError):
    """A fault that cannot be injected: an unknown service or kind, a rate outside (0, 1], a duration not positive."""


@dataclass(frozen=True, slots=True)
class Fault:
    """Refuse `rate` of a service's requests as `kind` for `duration_s` seconds (until lifted when None)."""

    service: Service
    kind: FaultKind
    rate: float = 1.0
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.service not in SERVICES:
            raise FaultSpecError(f"service must be one of {', '.join(SERVICES)}, got {self.service!r}")
        if self.kind not in KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not 0 < self.rate <= 1:
            raise FaultSpecError(f"rate must be in (0, 1], got {self.rate}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise FaultSpecError(f"duration_s must be positive, got {self.duration_s}")

    @classmethod
    def from_json(cls, value: object) -> Fault:
        """The fault a JSON object describes; FaultSpecError when it is not one."""
        if not isinstance(value, dict) or not {"service", "kind"} <= value.keys():
            raise FaultSpecError("a fault is a JSON object with service and kind (rate and duration_s optional)")
        unknown = value.keys() - {"service", "kind", "rate", "duration_s"}
        if unknown:
            raise FaultSpecError(f"unknown fields {', '.join(sorted(unknown))}")
        rate, duration = value.get("rate", 1.0), value.get("duration_s")
        if not isinstance(rate, int | float) or (duration is not None and not isinstance(duration, int | float)):
            raise FaultSpecError("rate and duration_s must be numbers")
        return cls(
            service=cast("Service", value["service"]),
            kind=cast("FaultKind", value["kind"]),
            rate=float(rate),
            duration_s=None if duration is None else float(duration),
        )

    def to_json(self) -> dict[str, Any]:
        """The fault as the control route takes it."""
        return asdict(self)


@dataclass(slots=True)
class _Active:
    fault: Fault
    until: float | None
    refused: int = 0
    seen: int = 0


def request_service(environ: WSGIEnvironment) -> Service | None:
    """The AWS service a request to the endpoint is for, or None when it names none this module knows."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    for prefix, service in _TARGET_PREFIXES:
        if target.startswith(prefix):
            return service
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        credential = query.get("X-Amz-Credential", [""])[0]
        scope = _CREDENTIAL_SCOPE.search(f"Credential={credential}")
    if scope is None:
        return None
    name = scope.group(1)
    return cast("Service", name) if name in SERVICES else None


def refusal_response(
    service: Service, kind: FaultKind, *, json_protocol: bool
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of a refusal in the service's wire format."""
    refusal = REFUSALS[service][kind]
    request_id = str(uuid.uuid4())
    message = f"fault injected by the local endpoint: {kind}"
    headers = [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id)]
    if json_protocol and service in _JSON_CONTENT_TYPES:
        body = json.dumps({"__type": f"{_NAMESPACES[service]}#{refusal.code}", "message": message}).encode()
        headers += [("Content-Type", _JSON_CONTENT_TYPES[service]), ("x-amzn-ErrorType", refusal.code)]
        if service == "sqs":
            # SQS's JSON protocol is query-compatible: botocore takes the query error code from this header.
            fault_side = "Sender" if refusal.sender else "Receiver"
            headers.append(("x-amzn-query-error", f"{refusal.code};{fault_side}"))
    elif service == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.code}</Code>'
            f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
    else:
        fault_side = "Sender" if refusal.sender else "Receiver"
        body = (
            f'<?xml version="1.0"?>\n<ErrorResponse><Error><Type>{fault_side}</Type><Code>{refusal.code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    return refusal.status, headers, body


class FaultInjector:
    """WSGI middleware: refuses requests of the services with a fault in force, and serves the control route."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._app = app
        # Which requests a fault refuses is a draw, seeded for tests; nothing secret rests on it.
        self._random = random.Random(seed)  # noqa: S311
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[Service, _Active] = {}

    def inject(self, fault: Fault) -> None:
        """Put `fault` in force now, replacing any fault of its service."""
        until = None if fault.duration_s is None else self._clock() + fault.duration_s
        with self._lock:
            self._faults[fault.service] = _Active(fault, until)

    def lift(self, service: Service | None = None) -> None:
        """Lift the fault of `service`, or every fault."""
        with self._lock:
            if service is None:
                self._faults.clear()
            else:
                self._faults.pop(service, None)

    def active(self) -> list[dict[str, Any]]:
        """The faults in force: each with the seconds it has left (None: until lifted) and the requests it refused."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            return [
                {
                    **active.fault.to_json(),
                    "remaining_s": None if active.until is None else round(active.until - now, 3),
                    "seen": active.seen,
                    "refused": active.refused,
                }
                for active in self._faults.values()
            ]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CONTROL_PATH:
            return self._control(environ, start_response)
        if self._faults:
            service = request_service(environ)
            kind = None if service is None else self._refuses(service)
            if service is not None and kind is not None:
                json_protocol = "HTTP_X_AMZ_TARGET" in environ or "json" in environ.get("CONTENT_TYPE", "")
                status, headers, body = refusal_response(service, kind, json_protocol=json_protocol)
                headers.append(("Content-Length", str(len(body))))
                start_response(f"{status} {_REASONS[status]}", headers)
                return [body]
        return self._app(environ, start_response)

    def _refuses(self, service: Service) -> FaultKind | None:
        with self._lock:
            self._expire(self._clock())
            active = self._faults.get(service)
            if active is None:
                return None
            active.seen += 1
            if self._random.random() >= active.fault.rate:
                return None
            active.refused += 1
            return active.fault.kind

    def _expire(self, now: float) -> None:
        for service in [s for s, a in self._faults.items() if a.until is not None and a.until <= now]:
            del self._faults[service]

    def _control(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        status = 200
        try:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                self.inject(Fault.from_json(json.loads(environ["wsgi.input"].read(length) or b"null")))
                status = 201
            elif method == "DELETE":
                service = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("service", [None])[0]
                if service is not None and service not in SERVICES:
                    raise FaultSpecError(f"service must be one of {', '.join(SERVICES)}, got {service!r}")
                self.lift(cast("Service | None", service))
            elif method != "GET":
                return _json(start_response, 405, {"error": f"{method} is not allowed on {CONTROL_PATH}"})
        except (FaultSpecError, ValueError) as error:
            return _json(start_response, 400, {"error": str(error)})
        return _json(start_response, status, {"faults": self.active()})


_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _json(start_response: StartResponse, status: int, payload: object) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {_REASONS[status]}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class FaultControl:
    """The control route's client: inject and lift faults on an endpoint, from any process."""

    def __init__(self, endpoint_url: str, *, timeout_s: float = 5.0) -> None:
        self._url = endpoint_url.rstrip("/") + CONTROL_PATH
        self._timeout_s = timeout_s

    def inject(self, fault: Fault) -> list[dict[str, Any]]:
        """Put `fault` in force; the faults in force after it."""
        return self._call("POST", self._url, json.dumps(fault.to_json()).encode())

    def lift(self, service: Service | None = None) -> list[dict[str, Any]]:
        """Lift one service's fault, or all; the faults still in force."""
        url = self._url if service is None else f"{self._url}?service={service}"
        return self._call("DELETE", url)

    def active(self) -> list[dict[str, Any]]:
        """The faults in force, with the requests each refused."""
        return self._call("GET", self._url)

    def _call(self, method: str, url: str, body: bytes | None = None) -> list[dict[str, Any]]:
        request = urllib.request.Request(  # noqa: S310 - the URL is the local endpoint's own
            url, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            faults: list[dict[str, Any]] = json.loads(response.read())["faults"]
        return faults
