"""Errors raised across the shared runtime.

Every error declares its `code`: the stable name callers and auditors see, never derived from the class's
name, so that renaming a class changes no answer. An error the APIs answer with also declares its HTTP
`status`; one without a status is answered `500 internal_error` and its message stays in the audit trail.
The published codes are snapshotted in `contracts/schemas/error-codes.json` and checked by the tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from contracts.decision.v1 import DecisionResponse
    from contracts.error.v1 import FieldError


class LeaimError(Exception):
    """Base class of every error LEAIM raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int | None] = None


class ConfigurationError(LeaimError):
    """The environment or a manifest is wrong; raised at cold start, not on the tenth request."""

    code = "configuration_error"


class WorkerError(LeaimError):
    """A GPU worker call failed: it raised, refused the request, or answered malformed data."""

    code = "worker_error"


class WorkerTimeoutError(WorkerError):
    """A GPU worker did not answer before the deadline."""

    code = "worker_timeout"


class CircuitOpenError(WorkerError):
    """The circuit breaker is open for this worker target; the call was not attempted."""

    code = "circuit_open"


class DependencyUnavailableError(LeaimError):
    """A store the request cannot be answered without (the API key table) did not answer."""

    code = "dependency_unavailable"
    status = 503


class AuditWriteError(LeaimError):
    """An audit event could not be durably stored."""

    code = "audit_unavailable"
    status = 503


class NotFoundError(LeaimError):
    """A decision, use case or model version does not exist."""

    code = "not_found"
    status = 404


class ConflictError(LeaimError):
    """A change conflicts with what is stored: the API answers 409 and the caller may retry after reading again."""

    code = "conflict"
    status = 409


class ModelVersionExistsError(ConflictError):
    """A model version with this name and version is already published; versions are immutable."""

    code = "model_version_exists"
    status = 409

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

    code = "version_rejected"
    status = 409


class VersionUnverifiedError(ConflictError):
    """A version whose stored artifact or signed manifest does not verify, or that no worker loads, was asked to
    serve traffic."""

    code = "version_unverified"
    status = 409


class RevisionConflictError(ConflictError):
    """A traffic policy changed since the caller read it: the expected revision is stale, or a racer won."""

    code = "revision_conflict"
    status = 409


class TrafficChangeError(ConflictError):
    """A traffic change the policy's current state does not allow, such as a rollback with nothing to restore."""

    code = "traffic_change"
    status = 409


class OutcomeConflictError(ConflictError):
    """A decision already has another ground truth: outcomes are recorded once."""

    code = "outcome_conflict"
    status = 409


class ReviewClosedError(ConflictError):
    """A review already has another override: a decision is overridden once."""

    code = "review_closed"
    status = 409


class InvalidJobError(LeaimError):
    """A training job request names an unknown family or parameters out of range."""

    code = "invalid_job"

    def __init__(self, fields: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in fields))
        self.fields = fields


class UnreadableJobMessageError(LeaimError):
    """A training queue message does not name a job; SQS retries it, then moves it to the dead-letter queue."""

    code = "unreadable_job_message"


class RecordExistsError(ConflictError):
    """What an audited write would add is stored already (another invocation recorded it first); nothing was kept."""

    code = "record_exists"
    status = 409


class DuplicateDecisionError(LeaimError):
    """A decision already exists for this (use case, request id); it is carried so callers can answer with it."""

    code = "duplicate_decision"

    def __init__(self, decision: DecisionResponse) -> None:
        super().__init__(
            f"request {decision.request_id!r} of use case {decision.use_case!r} "
            f"was already decided as {decision.decision_id!r}"
        )
        self.decision = decision


class SnapshotFormatError(LeaimError):
    """A snapshot cannot be used to train this use case: other features, or no label."""

    code = "snapshot_format"


class EmptySnapshotError(LeaimError):
    """There is no stored record to freeze in the requested range."""

    code = "no_records"
    status = 409


class SnapshotExistsError(LeaimError):
    """A snapshot with this id is already stored; snapshots are never overwritten."""

    code = "snapshot_exists"
    status = 409


class SnapshotIntegrityError(LeaimError):
    """A snapshot's content does not match the hash its manifest recorded."""

    code = "snapshot_integrity"
