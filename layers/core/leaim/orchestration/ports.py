"""Ports of the orchestration layer; adapters implement them and `leaim.bootstrap` wires them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.decision.v1 import DecisionResponse, Override


@dataclass(frozen=True, slots=True)
class PriorDecision:
    """The decision already made for a request id, and the minimized inputs it was made on."""

    response: DecisionResponse
    inputs: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class MadeDecision:
    """A stored decision, and the principal its audit event says made it (None where no event names one)."""

    response: DecisionResponse
    made_by: str | None


@dataclass(frozen=True, slots=True)
class RecordedDecision:
    """A stored decision with what it was made from, for a replay.

    `inputs` are the minimized inputs (PII as tokens); `online` the online features its rules saw, None where the
    feature store did not answer or the decision predates their recording; `features` the feature vector its model
    scored, by name in the model's order, None where no model scored; `made_by` the principal its event names.
    """

    response: DecisionResponse
    inputs: Mapping[str, object]
    online: Mapping[str, object] | None
    features: Mapping[str, float] | None
    made_by: str | None


class OverrideReader(Protocol):
    """Reviewers' overrides, so that reading a decision returns the outcome that stands."""

    def override_of(self, decision_id: str) -> Override | None:
        """The override of a decision, or None."""
        ...


class DecisionStore(Protocol):
    """Decisions already made, by id or by the caller's request id."""

    def get(self, decision_id: str) -> MadeDecision | None:
        """A stored decision and who made it, or None."""
        ...

    def by_request(self, use_case: str, request_id: str) -> PriorDecision | None:
        """The decision already made for this request id, with its inputs: a retry or a reused request id."""
        ...


class DecisionRecords(Protocol):
    """Stored decisions with what each was made from."""

    def recorded(self, decision_id: str) -> RecordedDecision | None:
        """A stored decision as it was answered, with its inputs and features, or None."""
        ...


class ResultPublisher(Protocol):
    """Where the queue consumer sends decisions."""

    def publish(self, decision: DecisionResponse) -> None:
        """Send one decision to the results queue."""
        ...
