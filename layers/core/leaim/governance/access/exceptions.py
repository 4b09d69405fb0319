"""The refusals every governed API answers with, each with its HTTP status and its stable code.

Errors of the services (a conflict, an unknown record, an unavailable store) declare their own status and
code in `leaim.exceptions`; these are the refusals of the HTTP entry itself and of the API modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from contracts.error.v1 import FieldError


class RequestRefusedError(LeaimError):
    """A request the API will not serve: its answer names the problem and, where there are any, the fields.

    The base of the refusals below; each declares the status and code it is answered with.
    """

    code = "refused"

    def __init__(self, message: str, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or []


class UnauthorizedError(RequestRefusedError):
    """No API key was sent, or the key table does not know it."""

    code = "unauthorized"
    status = 401


class ForbiddenError(RequestRefusedError):
    """The caller's role may not do what the route does."""

    code = "forbidden"
    status = 403


class MalformedJsonError(RequestRefusedError):
    """The body is not a JSON document."""

    code = "malformed_json"
    status = 400


class UnsupportedMediaTypeError(RequestRefusedError):
    """The body is sent as another media type than JSON, or in another charset than UTF-8."""

    code = "unsupported_media_type"
    status = 415


class BodyTooLargeError(RequestRefusedError):
    """The body is over the API's size limit."""

    code = "body_too_large"
    status = 413


class InvalidRequestError(RequestRefusedError):
    """The body or the query does not match the route's contract; `fields` names each offending field."""

    code = "invalid_request"
    status = 422


class InvalidInputsError(RequestRefusedError):
    """A decision request's inputs do not satisfy the use case's manifest; `fields` names each one."""

    code = "invalid_inputs"
    status = 422


class UnknownUseCaseError(RequestRefusedError):
    """A decision was asked of a use case that no manifest defines."""

    code = "unknown_use_case"
    status = 404


class UnknownDecisionError(RequestRefusedError):
    """No decision has the id the route names."""

    code = "unknown_decision"
    status = 404


class ExportTooLargeError(RequestRefusedError):
    """An audit export would be more than one answer may carry: the caller narrows its range."""

    code = "export_too_large"
    status = 413


class RateLimitedError(RequestRefusedError):
    """The key is over its plan's rate or daily quota: the answer carries `Retry-After`."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, limit: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.limit = limit


class KeyManagementError(LeaimError):
    """A key change that cannot be made: an unknown role, plan, scope or key, or a key revoked already."""

    code = "key_management"
