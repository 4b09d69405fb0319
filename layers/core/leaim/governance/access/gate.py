"""Governed HTTP entry points: authenticate, authorize, parse JSON, answer errors, audit every answer.

The decision, ingestion and later APIs share this base, so every route answers a problem the same way
(an `ErrorResponse` naming the offending fields) and stores exactly one audit event per invocation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from contracts.error.v1 import ErrorResponse, FieldError
from leaim.exceptions import AuditWriteError, LeaimError
from leaim.governance.access.exceptions import (
    BodyTooLargeError,
    ForbiddenError,
    InvalidRequestError,
    MalformedJsonError,
    RateLimitedError,
    RequestRefusedError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from leaim.governance.access.policy import is_allowed, key_digest
from leaim.governance.audit.events import InvocationAudit

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import timedelta

    from contracts.audit.v1 import Outcome
    from leaim.domain.clock import Clock
    from leaim.governance.access.limits import RateLimits
    from leaim.governance.access.policy import Permission
    from leaim.governance.ports import ApiKeyStore, AuditLog, Principal, Telemetry

API_KEY_HEADER = "x-api-key"

ContractT = TypeVar("ContractT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """Status, JSON body and headers of one answer; `text`, when set, is sent instead of the JSON body."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True, slots=True)
class TextBody:
    """An answer that is not JSON, such as an export: its text and content type."""

    text: str
    content_type: str


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the entry point knows about the invocation it serves."""

    invocation_id: str
    headers: Mapping[str, str]
    remaining_ms: float | None = None


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice: which value was meant cannot be told."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DuplicateKeyError(f"key {key!r} appears twice in one object")
        document[key] = value
    return document


def _check_media_type(content_type: str | None) -> None:
    """415 for a body sent as anything but JSON in UTF-8; a body without a content type is read as JSON."""
    if content_type is None:
        return
    media_type, _, parameters = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaTypeError(f"the body is sent as {media_type or 'nothing'!r}: send it as application/json")
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaTypeError(f"the body is sent in {value.strip()!r}: send it in UTF-8")


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


def invalid_field(field: str, message: str) -> InvalidRequestError:
    """A 422 naming one offending field."""
    return InvalidRequestError(f"{field} {message}", [FieldError(field=field, message=message, type="value_error")])


def query_time(query: Mapping[str, str], name: str) -> datetime | None:
    """The query parameter `name` as an ISO-8601 time (UTC where it has no offset); None when absent."""
    text = query.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise invalid_field(f"query.{name}", f"is not an ISO-8601 time: {error}") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def report_range(query: Mapping[str, str], now: float, window: timedelta) -> tuple[datetime, datetime]:
    """A report's `since` .. `until`: until defaults to `now`, since to `window` before until; 422 unless ordered."""
    until = query_time(query, "until") or datetime.fromtimestamp(now, UTC)
    since = query_time(query, "since") or until - window
    if since >= until:
        raise invalid_field("query.since", "must be before until")
    return since, until


@dataclass(frozen=True, slots=True)
class HttpGate:
    """What every governed HTTP entry point shares: its callers' keys, the audit log, tracing, time, its body
    limit and the function name its events carry."""

    keys: ApiKeyStore
    audit_log: AuditLog
    telemetry: Telemetry
    clock: Clock
    max_body_bytes: int
    source: str
    limits: RateLimits | None = None


class GovernedHttp:
    """Base of the HTTP entry points: one audit event per invocation, stored before the answer goes out."""

    def __init__(self, gate: HttpGate) -> None:
        self._keys = gate.keys
        self._audit_log = gate.audit_log
        self._telemetry = gate.telemetry
        self._clock = gate.clock
        self._max_body_bytes = gate.max_body_bytes
        self._source = gate.source
        self._limits = gate.limits

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
            raise UnauthorizedError(f"missing API key: send it in the {API_KEY_HEADER} header")
        principal = self._keys.lookup(key_digest(api_key))
        if principal is None:
            raise UnauthorizedError("unknown or revoked API key")
        audit.note(principal=principal.name, role=principal.role)
        if not is_allowed(principal.role, permission):
            raise ForbiddenError(f"role {principal.role!r} may not {permission.value}")
        if self._limits is not None:
            self._limits.check(principal)
        return principal

    def _json(self, body: bytes, invocation: Invocation) -> Any:
        """The body's JSON document: 415 when it is sent as another media type, 413 past the size limit, 400 when it
        is not one JSON document in UTF-8 (bad UTF-8, bad JSON, a key given twice, nesting too deep)."""
        if body:
            _check_media_type(invocation.headers.get("content-type"))
        if len(body) > self._max_body_bytes:
            raise BodyTooLargeError(f"body is {len(body)} bytes; the limit is {self._max_body_bytes}")
        try:
            return json.loads((body or b"null").decode("utf-8"), object_pairs_hook=_unique_keys)
        except DuplicateKeyError as error:
            raise MalformedJsonError(
                f"body is not valid JSON: {error}",
                [FieldError(field="body", message=str(error), type="json_duplicate_key")],
            ) from error
        except (ValueError, RecursionError) as error:
            # ValueError covers bad UTF-8, bad JSON and integers past Python's digit limit;
            # RecursionError covers nesting too deep to parse.
            raise MalformedJsonError(
                "body is not valid JSON", [FieldError(field="body", message=str(error), type="json_invalid")]
            ) from error

    def _serve(
        self,
        invocation: Invocation,
        action: str,
        permission: Permission,
        attributes: dict[str, str],
        work: Callable[[Principal, InvocationAudit], tuple[BaseModel | TextBody, dict[str, Any]]],
        *,
        status: int | Callable[[dict[str, Any]], int] = 200,
        subject: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        """Authorize, run `work`, store the invocation's one audit event (unless `work` stored it), and answer.

        `work` returns the answer's contract (or text) and the event's details; `status` may be chosen from
        the details. `subject` (a decision id, a use case) is noted on the event before the caller is
        authorized, so that refused attempts are found with the rest of the subject's trail. An error
        answers with its own status and code (`_answer_error`).
        """
        with self._telemetry.attach(invocation.headers), self._telemetry.span(action, attributes):
            audit = self._audit(invocation, action)
            audit.note(**(subject or {}))
            try:
                principal = self._authorize(invocation, audit, permission)
                answer, details = work(principal, audit)
                code = status(details) if callable(status) else status
                if audit.stored is None:
                    audit.store("success", status_code=code, details=details)
            except Exception as error:
                return self._answer_error(audit, error)
            if isinstance(answer, TextBody):
                return HttpAnswer(code, {}, {"content-type": answer.content_type}, text=answer.text)
            return HttpAnswer(code, answer.model_dump(mode="json"))

    def _parse(self, model: type[ContractT], payload: object, what: str) -> ContractT:
        """`payload` as `model`; a 422 naming every offending field when it is not one."""
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise InvalidRequestError(f"body is not {what}", field_errors(error)) from error

    def _answer_error(self, audit: InvocationAudit, error: Exception) -> HttpAnswer:
        """The answer to an invocation that raised: an error's own status and code, else 500 `internal_error`.

        The audit store refusing the event answers 503, since nothing leaves without its event.
        """
        if isinstance(error, AuditWriteError):
            return self._unavailable(error, audit)
        if isinstance(error, LeaimError) and error.status is not None:
            return self._reject(audit, error, error.status)
        return self._fail(audit, error)

    def _reject(self, audit: InvocationAudit, error: LeaimError, status: int) -> HttpAnswer:
        outcome: Outcome = "error" if status >= 500 else "rejected"
        fields = error.fields if isinstance(error, RequestRefusedError) else []
        message = str(error)
        details: dict[str, Any] = {"fields": [f.model_dump() for f in fields]}
        headers: dict[str, str] = {}
        if isinstance(error, RateLimitedError):
            details.update(limit=error.limit, retry_after_s=error.retry_after_s)
            headers["retry-after"] = str(error.retry_after_s)
        elif status == 503:
            # A store that did not answer may answer the next try.
            headers["retry-after"] = "1"
        try:
            audit.store(outcome, status_code=status, error=f"{error.code}: {message}", details=details)
        except AuditWriteError as audit_error:
            return self._unavailable(audit_error, audit)
        body = ErrorResponse(error=error.code, message=message, fields=fields, trace_id=audit.trace_id)
        return HttpAnswer(status, body.model_dump(mode="json"), headers)

    def _fail(self, audit: InvocationAudit, error: Exception) -> HttpAnswer:
        if audit.stored is None:
            try:
                audit.store("error", status_code=500, error=f"{type(error).__name__}: {error}")
            except AuditWriteError as audit_error:
                return self._unavailable(audit_error, audit)
        body = ErrorResponse(error=LeaimError.code, message="the request could not be served", trace_id=audit.trace_id)
        return HttpAnswer(500, body.model_dump(mode="json"))

    def _unavailable(self, error: AuditWriteError, audit: InvocationAudit) -> HttpAnswer:
        # No answer leaves without its audit event: the caller retries (a decision with the same request id).
        body = ErrorResponse(
            error=AuditWriteError.code,
            message=f"the audit store did not accept the event: {error}",
            trace_id=audit.trace_id,
        )
        return HttpAnswer(503, body.model_dump(mode="json"), {"retry-after": "1"})
