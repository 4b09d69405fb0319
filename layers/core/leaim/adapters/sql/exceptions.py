"""Errors raised by the SQL adapters (DuplicateDecisionError is shared with the decision service)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leaim.exceptions import DuplicateDecisionError, LeaimError

if TYPE_CHECKING:
    from leaim.adapters.sql.registry import ModelVersion

__all__ = ["DuplicateDecisionError", "ModelVersionExistsError", "StoreUnavailableError"]


class ModelVersionExistsError(LeaimError):
    """A model version with this name and version is already registered with different contents."""

    def __init__(self, existing: ModelVersion) -> None:
        super().__init__(
            f"model version {existing.name}:{existing.version} is already registered "
            f"with artifact {existing.artifact_digest}; versions are immutable"
        )
        self.existing = existing


class StoreUnavailableError(LeaimError):
    """The SQL store could not be read or written for a reason other than the data itself."""
