"""Errors raised by the SQL adapters; those the services also handle live in `leaim.exceptions`."""

from __future__ import annotations

from leaim.exceptions import DependencyUnavailableError, DuplicateDecisionError, ModelVersionExistsError

__all__ = ["DuplicateDecisionError", "ModelVersionExistsError", "StoreUnavailableError"]


class StoreUnavailableError(DependencyUnavailableError):
    """The SQL store could not be read or written for a reason other than the data itself."""

    code = "dependency_unavailable"
    status = 503
