"""Ports of the orchestration layer; adapters implement them and `leaim.bootstrap` wires them.

The governance ports the decision path also uses are re-exported here for its adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from leaim.governance.ports import ApiKeyStore, AuditLog, DeadLetterSink, Principal, Telemetry

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.inference.v1 import InferenceRequest, InferenceResult
    from contracts.model.v1 import SignedManifest
    from contracts.training.v2 import TrainingRequest, TrainingResult


__all__ = [
    "ActiveModel",
    "ApiKeyStore",
    "AuditLog",
    "DeadLetterSink",
    "DecisionStore",
    "FeatureStore",
    "ModelRouter",
    "OverrideReader",
    "Principal",
    "ResultPublisher",
    "Telemetry",
    "TrafficPlan",
    "WorkerClient",
]


class WorkerClient(Protocol):
    """Calls the inference and training GPU workers; the only way orchestration reaches a model."""

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score a batch; raise WorkerTimeoutError after `timeout_s`, WorkerError on any failure."""
        ...

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        """Train and export one model version; same error contract as `score`."""
        ...

    def publish_manifest(self, signed: SignedManifest, timeout_s: float) -> None:
        """Put a signed manifest beside its artifact where the inference workers load from."""
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


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """How a use case's traffic is split right now: the champion, and a challenger under its policy."""

    champion: ActiveModel
    challenger: ActiveModel | None
    policy: str | None
    canary_percent: float


class OverrideReader(Protocol):
    """Reviewers' overrides, so that reading a decision returns the outcome that stands."""

    def override_of(self, decision_id: str) -> Override | None:
        """The override of a decision, or None."""
        ...


class ModelRouter(Protocol):
    """Which model versions serve a use case right now."""

    def plan(self, use_case: str) -> TrafficPlan | None:
        """The use case's champion and challenger, or None before it has a champion."""
        ...


class DecisionStore(Protocol):
    """Decisions already made, by id or by the caller's request id."""

    def get(self, decision_id: str) -> DecisionResponse | None:
        """A stored decision, or None."""
        ...

    def by_request(self, use_case: str, request_id: str) -> DecisionResponse | None:
        """The decision already made for this request id, for idempotent retries."""
        ...

    def inputs_of(self, decision_id: str) -> Mapping[str, object] | None:
        """The minimized inputs a decision was made on, to tell a retry from a reused request id."""
        ...


class ResultPublisher(Protocol):
    """Where the queue consumer sends decisions."""

    def publish(self, decision: DecisionResponse) -> None:
        """Send one decision to the results queue."""
        ...
