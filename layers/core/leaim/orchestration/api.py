"""The decision API, independent of the web framework: HTTP in, governed decision and audit out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from contracts.decision.v1 import DecisionRequest, ErrorResponse, FieldError
from leaim.exceptions import AuditWriteError, DependencyUnavailableError, NotFoundError
from leaim.governance.access import Permission, is_allowed, key_digest
from leaim.governance.audit import InvocationAudit
from leaim.orchestration.decisions import InputValidationError, RequestIdReusedError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.audit.v1 import Outcome
    from leaim.domain.clock import Clock
    from leaim.governance.ports import ApiKeyStore, AuditLog, Principal
    from leaim.orchestration.decisions import DecisionService
    from leaim.orchestration.ports import Telemetry

API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Status, JSON body and headers of one answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the entry point knows about the invocation it serves."""

    invocation_id: str
    headers: Mapping[str, str]
    remaining_ms: float | None = None


class _Rejection(Exception):  # noqa: N818 - control flow inside this module, never escapes it
    def __init__(self, status: int, error: str, message: str, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.fields = fields or []


def field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as FieldErrors naming each offending field by its dotted path."""
    fields = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        fields.append(
            FieldError(
                field=prefix + path if path else prefix.rstrip(".") or "body", message=item["msg"], type=item["type"]
            )
        )
    return fields


class DecisionApi:
    """`POST /v1/decisions/{use_case}` and `GET /v1/decisions/{decision_id}`, audited once each."""

    def __init__(
        self,
        *,
        service: DecisionService,
        keys: ApiKeyStore,
        audit_log: AuditLog,
        telemetry: Telemetry,
        clock: Clock,
        max_body_bytes: int,
        source: str,
    ) -> None:
        self._service = service
        self._keys = keys
        self._audit_log = audit_log
        self._telemetry = telemetry
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._source = source

    def create(self, use_case: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Make one governed decision."""
        with (
            self._telemetry.attach(invocation.headers),
            self._telemetry.span("POST /v1/decisions/{use_case}", {"use_case": use_case}),
        ):
            audit = self._audit(invocation, "decision.create")
            audit.note(use_case=use_case)
            try:
                self._authorize(invocation, audit, Permission.CREATE_DECISION)
                request = self._parse(body)
                audit.note(request_id=request.request_id)
                result = self._service.decide(use_case, request, audit, remaining_ms=invocation.remaining_ms)
            except _Rejection as rejection:
                return self._reject(audit, rejection)
            except NotFoundError as error:
                return self._reject(audit, _Rejection(404, "unknown_use_case", str(error)))
            except InputValidationError as error:
                return self._reject(
                    audit, _Rejection(422, "invalid_inputs", "inputs do not match the use case", error.fields)
                )
            except RequestIdReusedError as error:
                return self._reject(audit, _Rejection(409, "request_id_reused", str(error)))
            except AuditWriteError as error:
                return self._unavailable(error, audit)
            except DependencyUnavailableError as error:
                return self._reject(audit, _Rejection(503, "dependency_unavailable", str(error)), retry=True)
            except Exception as error:
                return self._fail(audit, error)
            headers = {"x-idempotent-replay": "true"} if result.replay else {}
            return HttpAnswer(200, result.response.model_dump(mode="json"), headers)

    def read(self, decision_id: str, invocation: Invocation) -> HttpAnswer:
        """Return a stored decision."""
        with self._telemetry.attach(invocation.headers), self._telemetry.span("GET /v1/decisions/{decision_id}"):
            audit = self._audit(invocation, "decision.read")
            audit.note(decision_id=decision_id)
            try:
                self._authorize(invocation, audit, Permission.READ_DECISION)
                decision = self._service.get(decision_id)
                if decision is None:
                    raise _Rejection(404, "unknown_decision", f"no decision with id {decision_id!r}")
                audit.note(use_case=decision.use_case, request_id=decision.request_id)
                audit.store("success", status_code=200)
            except _Rejection as rejection:
                return self._reject(audit, rejection)
            except AuditWriteError as error:
                return self._unavailable(error, audit)
            except DependencyUnavailableError as error:
                return self._reject(audit, _Rejection(503, "dependency_unavailable", str(error)), retry=True)
            except Exception as error:
                return self._fail(audit, error)
            return HttpAnswer(200, decision.model_dump(mode="json"))

    def _audit(self, invocation: Invocation, action: str) -> InvocationAudit:
        return InvocationAudit(
            self._audit_log,
            self._clock,
            source=self._source,
            action=action,
            invocation_id=invocation.invocation_id,
            trace_id=self._telemetry.trace_id(),
        )

    def _authorize(self, invocation: Invocation, audit: InvocationAudit, permission: Permission) -> Principal:
        api_key = invocation.headers.get(API_KEY_HEADER)
        if not api_key:
            raise _Rejection(401, "unauthorized", f"missing API key: send it in the {API_KEY_HEADER} header")
        principal = self._keys.lookup(key_digest(api_key))
        if principal is None:
            raise _Rejection(401, "unauthorized", "unknown or revoked API key")
        audit.note(principal=principal.name, role=principal.role)
        if not is_allowed(principal.role, permission):
            raise _Rejection(403, "forbidden", f"role {principal.role!r} may not {permission.value}")
        return principal

    def _parse(self, body: bytes) -> DecisionRequest:
        if len(body) > self._max_body_bytes:
            raise _Rejection(413, "body_too_large", f"body is {len(body)} bytes; the limit is {self._max_body_bytes}")
        try:
            payload = json.loads(body or b"null")
        except (ValueError, RecursionError) as error:
            # ValueError covers bad UTF-8, bad JSON and integers past Python's digit limit;
            # RecursionError covers nesting too deep to parse.
            raise _Rejection(
                400,
                "malformed_json",
                "body is not valid JSON",
                [FieldError(field="body", message=str(error), type="json_invalid")],
            ) from error
        try:
            return DecisionRequest.model_validate(payload)
        except ValidationError as error:
            raise _Rejection(
                422, "invalid_request", "request does not match decision.v1", field_errors(error)
            ) from error

    def _reject(self, audit: InvocationAudit, rejection: _Rejection, *, retry: bool = False) -> HttpAnswer:
        outcome: Outcome = "error" if rejection.status >= 500 else "rejected"
        fields = [f.model_dump() for f in rejection.fields]
        try:
            audit.store(
                outcome,
                status_code=rejection.status,
                error=f"{rejection.error}: {rejection.message}",
                details={"fields": fields},
            )
        except AuditWriteError as error:
            return self._unavailable(error, audit)
        body = ErrorResponse(
            error=rejection.error, message=rejection.message, fields=rejection.fields, trace_id=audit.trace_id
        )
        return HttpAnswer(rejection.status, body.model_dump(mode="json"), {"retry-after": "1"} if retry else {})

    def _fail(self, audit: InvocationAudit, error: Exception) -> HttpAnswer:
        if audit.stored is None:
            try:
                audit.store("error", status_code=500, error=f"{type(error).__name__}: {error}")
            except AuditWriteError as audit_error:
                return self._unavailable(audit_error, audit)
        body = ErrorResponse(error="internal_error", message="the decision could not be made", trace_id=audit.trace_id)
        return HttpAnswer(500, body.model_dump(mode="json"))

    def _unavailable(self, error: AuditWriteError, audit: InvocationAudit) -> HttpAnswer:
        # No decision leaves without its audit event: the caller retries with the same request id.
        body = ErrorResponse(
            error="audit_unavailable",
            message=f"the audit store did not accept the event: {error}",
            trace_id=audit.trace_id,
        )
        return HttpAnswer(503, body.model_dump(mode="json"), {"retry-after": "1"})
