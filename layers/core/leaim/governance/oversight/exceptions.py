"""Errors of oversight."""

from __future__ import annotations

from leaim.exceptions import LeaimError


class InvalidOverrideError(LeaimError):
    """An override names an outcome the use case does not have."""

    code = "invalid_override"
