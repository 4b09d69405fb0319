"""Ports of the lifecycle layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class ModelRegistry(Protocol):
    """Immutable model versions and the version each use case routes to."""

    def register(
        self,
        name: str,
        version: str,
        *,
        artifact_digest: str,
        family: str,
        feature_names: Sequence[str],
        params: Mapping[str, object],
        metrics: Mapping[str, float],
    ) -> object:
        """Publish a version; the same version with other content is refused."""
        ...

    def activate(self, use_case: str, name: str, version: str) -> object:
        """Route the use case's traffic to this version."""
        ...

    def versions(self, name: str) -> Sequence[object]:
        """Published versions of a model."""
        ...
