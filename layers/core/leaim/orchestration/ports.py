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


class ResultPublisher(Protocol):
    """Where the queue consumer sends decisions."""

    def publish(self, decision: DecisionResponse) -> None:
        """Send one decision to the results queue."""
        ...
