"""Errors of the decision path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leaim.exceptions import LeaimError
from leaim.governance.access.exceptions import InvalidInputsError

if TYPE_CHECKING:
    from contracts.error.v1 import FieldError


class RequestIdReusedError(LeaimError):
    """A request id already decided is sent again with other inputs: not a retry, a conflict."""

    code = "request_id_reused"
    status = 409


class InputValidationError(InvalidInputsError):
    """The request's inputs do not satisfy the use case's manifest; `fields` names every problem."""

    code = "invalid_inputs"

    def __init__(self, fields: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in fields), fields)


class PoisonMessageError(LeaimError):
    """The message can never become a decision; it is retried, then dead-lettered with this reason."""

    code = "poison_message"
