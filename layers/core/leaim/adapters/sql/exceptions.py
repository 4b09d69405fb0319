"""Errors raised by the SQL adapters; those the services also handle live in `leaim.exceptions`."""

from __future__ import annotations

from leaim.exceptions import DuplicateDecisionError, LeaimError, ModelVersionExistsError

__all__ = ["DuplicateDecisionError", "ModelVersionExistsError", "StoreUnavailableError"]


class StoreUnavailableError(LeaimError):
    """The SQL store could not be read or written for a reason other than the data itself."""
