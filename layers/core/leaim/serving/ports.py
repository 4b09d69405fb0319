"""Ports of the serving layer: the GPU workers, and which model versions serve a use case right now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from leaim.lifecycle.ports import TrainingWorker

if TYPE_CHECKING:
    from contracts.inference.v1 import InferenceRequest, InferenceResult


class WorkerClient(TrainingWorker, Protocol):
    """Calls the inference and training GPU workers; the only way the platform reaches a model."""

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        """Score a batch; raise WorkerTimeoutError after `timeout_s`, WorkerError on any failure."""
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


class ModelRouter(Protocol):
    """Which model versions serve a use case right now."""

    def plan(self, use_case: str) -> TrafficPlan | None:
        """The use case's champion and challenger, or None before it has a champion."""
        ...


class TrafficPlanPublisher(Protocol):
    """Where the registry publishes each use case's plan after a traffic change, for the decision functions."""

    def publish(self, use_case: str, plan: TrafficPlan, revision: int) -> None:
        """Publish revision `revision` of the use case's plan; an older revision never replaces a newer one."""
        ...
