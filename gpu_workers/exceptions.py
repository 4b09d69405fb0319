"""Errors the GPU workers raise on purpose; their class names travel to callers as error types."""

from __future__ import annotations


class GpuWorkerError(Exception):
    """Base class of every error a worker raises on purpose."""


class ArtifactNotFoundError(GpuWorkerError):
    """No artifact with the requested digest exists in the artifact store."""


class ArtifactVerificationError(GpuWorkerError):
    """The artifact's bytes do not hash to the digest it is stored under."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"artifact digest mismatch: expected {expected}, actual {actual}")
        self.expected = expected
        self.actual = actual


class ModelMismatchError(GpuWorkerError):
    """A request names a different artifact or different features than the loaded model."""


class DeadlineExceededError(GpuWorkerError):
    """The caller's deadline passed before the work started; nobody is waiting for the answer."""


class InvalidRequestError(GpuWorkerError):
    """A request does not validate against its contract, or asks for something the worker cannot do."""


class ManifestVerificationError(GpuWorkerError):
    """A model manifest is malformed, not signed by a trusted key, or does not allow loading its artifact."""


class ManifestConflictError(GpuWorkerError):
    """A different manifest is already stored for the same artifact; a stored manifest never changes."""
