"""Errors the GPU workers raise on purpose; each declares the error type that travels to callers.

The types are the worker protocol's, fixed since its first version (they read like class names because they
were): a refusal answers `{"error": {"type": <code>, "message": ...}}`, and renaming a class changes nothing.
"""

from __future__ import annotations

from typing import ClassVar


class GpuWorkerError(Exception):
    """Base class of every error a worker raises on purpose."""

    code: ClassVar[str] = "GpuWorkerError"


class ArtifactNotFoundError(GpuWorkerError):
    """No artifact with the requested digest exists in the artifact store."""

    code = "ArtifactNotFoundError"


class ArtifactVerificationError(GpuWorkerError):
    """The artifact's bytes do not hash to the digest it is stored under."""

    code = "ArtifactVerificationError"

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"artifact digest mismatch: expected {expected}, actual {actual}")
        self.expected = expected
        self.actual = actual


class ModelMismatchError(GpuWorkerError):
    """A request names a different artifact or different features than the loaded model."""

    code = "ModelMismatchError"


class DeadlineExceededError(GpuWorkerError):
    """The caller's deadline passed before the work started; nobody is waiting for the answer."""

    code = "DeadlineExceededError"


class InvalidRequestError(GpuWorkerError):
    """A request does not validate against its contract, or asks for something the worker cannot do."""

    code = "InvalidRequestError"


class ManifestVerificationError(GpuWorkerError):
    """A model manifest is malformed, not signed by a trusted key, or does not allow loading its artifact."""

    code = "ManifestVerificationError"


class ManifestConflictError(GpuWorkerError):
    """A different manifest is already stored for the same artifact; a stored manifest never changes."""

    code = "ManifestConflictError"
