"""Ports of the orchestration layer; adapters implement them and `leaim.bootstrap` wires them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager

    from contracts.audit.v1 import AuditEvent
    from contracts.decision.v1 import DecisionResponse
    from contracts.inference.v1 import InferenceRequest, InferenceResult
    from contracts.training.v1 import TrainingRequest, TrainingResult


class WorkerClient(Protocol):
    """Calls the inference and training GPU workers; the only way orchestration reaches a model."""

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score a batch; raise WorkerTimeoutError after `timeout_s`, WorkerError on any failure."""
        ...

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train and export one model version; same error contract as `score`."""
        ...


class FeatureStore(Protocol):
    """Online features: the latest values per entity."""

    def get(self, use_case: str, entity_id: str) -> Mapping[str, float | int | str] | None:
        """Latest features of one entity, or None when the entity is unknown."""
        ...

    def put(self, use_case: str, entity_id: str, features: Mapping[str, float | int | str]) -> None:
        """Store the latest features of one entity."""
        ...


@dataclass(frozen=True, slots=True)
class ActiveModel:
    """The model version a use case's traffic goes to."""

    name: str
    version: str
    artifact_digest: str
    feature_names: tuple[str, ...]


class ModelRouter(Protocol):
    """Which model version serves a use case right now."""

    def active_model(self, use_case: str) -> ActiveModel | None:
        """The version serving `use_case`, or None before any version is activated."""
        ...


class AuditLog(Protocol):
    """Durable audit storage. `record_decision` stores the decision and its event atomically."""

    def append(self, event: AuditEvent) -> None:
        """Store one event durably or raise AuditWriteError."""
        ...

    def record_decision(self, decision: DecisionResponse, inputs: Mapping[str, object], event: AuditEvent) -> None:
        """Store a decision with its (minimized) inputs and its audit event in one transaction."""
        ...


class DecisionStore(Protocol):
    """Decisions already made, by id or by the caller's request id."""

    def get(self, decision_id: str) -> DecisionResponse | None:
        """A stored decision, or None."""
        ...

    def by_request(self, use_case: str, request_id: str) -> DecisionResponse | None:
        """The decision already made for this request id, for idempotent retries."""
        ...


class ResultPublisher(Protocol):
    """Where the queue consumer sends decisions."""

    def publish(self, decision: DecisionResponse) -> None:
        """Send one decision to the results queue."""
        ...


class Telemetry(Protocol):
    """Spans and trace context, so orchestration code names no telemetry library."""

    def span(
        self, name: str, attributes: Mapping[str, str | int | float | bool] | None = None
    ) -> AbstractContextManager[None]:
        """Open a child span of the current one for the duration of a `with` block."""
        ...

    def trace_id(self) -> str:
        """Hex trace id of the current span (32 characters)."""
        ...

    def carrier(self) -> dict[str, str]:
        """W3C trace context of the current span, to send inside worker requests."""
        ...

    def attach(self, carrier: Mapping[str, str]) -> AbstractContextManager[None]:
        """Continue the trace described by `carrier` for the duration of a `with` block."""
        ...


class Clock(Protocol):
    """Wall time and monotonic time, injected so breakers and deadlines are testable."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds."""
        ...


class ApiKeyStore(Protocol):
    """API keys mapped to principals; only digests of keys are stored."""

    def lookup(self, key_digest: str) -> Principal | None:
        """The principal owning the key with this sha256 digest, or None."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and its role."""

    name: str
    role: str
