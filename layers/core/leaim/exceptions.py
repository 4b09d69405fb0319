"""Errors raised across the shared runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.decision.v1 import DecisionResponse, FieldError


class LeaimError(Exception):
    """Base class of every error LEAIM raises on purpose."""


class ConfigurationError(LeaimError):
    """The environment or a manifest is wrong; raised at cold start, not on the tenth request."""


class WorkerError(LeaimError):
    """A GPU worker call failed: it raised, refused the request, or answered malformed data."""


class WorkerTimeoutError(WorkerError):
    """A GPU worker did not answer before the deadline."""


class CircuitOpenError(WorkerError):
    """The circuit breaker is open for this worker target; the call was not attempted."""


class DependencyUnavailableError(LeaimError):
    """A store the request cannot be answered without (the API key table) did not answer."""


class AuditWriteError(LeaimError):
    """An audit event could not be durably stored."""


class NotFoundError(LeaimError):
    """A decision, use case or model version does not exist."""


class ConflictError(LeaimError):
    """A change conflicts with what is stored: the API answers 409 and the caller may retry after reading again."""


class ModelVersionExistsError(ConflictError):
    """A model version with this name and version is already published; versions are immutable."""

    def __init__(self, name: str, version: str, artifact_digest: str) -> None:
        super().__init__(
            f"model version {name}:{version} is already published with artifact {artifact_digest}; "
            "versions are immutable"
        )
        self.name = name
        self.version = version
        self.artifact_digest = artifact_digest


class VersionRejectedError(ConflictError):
    """A version that failed its gates was asked to serve traffic."""


class RevisionConflictError(ConflictError):
    """A traffic policy changed since the caller read it: the expected revision is stale, or a racer won."""


class TrafficChangeError(ConflictError):
    """A traffic change the policy's current state does not allow, such as a rollback with nothing to restore."""


class OutcomeConflictError(ConflictError):
    """A decision already has another ground truth: outcomes are recorded once."""


class ReviewClosedError(ConflictError):
    """A review already has another override: a decision is overridden once."""


class InvalidJobError(LeaimError):
    """A training job request names an unknown family or parameters out of range."""

    def __init__(self, fields: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in fields))
        self.fields = fields


class UnreadableJobMessageError(LeaimError):
    """A training queue message does not name a job; SQS retries it, then moves it to the dead-letter queue."""


class RecordExistsError(ConflictError):
    """What an audited write would add is stored already (another invocation recorded it first); nothing was kept."""


class DuplicateDecisionError(LeaimError):
    """A decision already exists for this (use case, request id); it is carried so callers can answer with it."""

    def __init__(self, decision: DecisionResponse) -> None:
        super().__init__(
            f"request {decision.request_id!r} of use case {decision.use_case!r} "
            f"was already decided as {decision.decision_id!r}"
        )
        self.decision = decision


class SnapshotFormatError(LeaimError):
    """A snapshot cannot be used to train this use case: other features, or no label."""


class EmptySnapshotError(LeaimError):
    """There is no stored record to freeze in the requested range."""


class SnapshotExistsError(LeaimError):
    """A snapshot with this id is already stored; snapshots are never overwritten."""


class SnapshotIntegrityError(LeaimError):
    """A snapshot's content does not match the hash its manifest recorded."""
