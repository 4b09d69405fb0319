"""Replay contract, version 1: a stored decision recomputed from its stored inputs, online features, model features,
model artifact and policy version, and exactly what differs and why.

The names carry `Decision` because the ingestion API replays quarantined records under `ReplayReport` and
`ReplayRequest` already; the OpenAPI document holds every contract under its class name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from contracts._base import Contract, Instant
from contracts.decision.v1 import ModelRef, PolicyRef
from contracts.model.v1 import Version

ReplayedField = Literal["outcome", "score", "review_required", "fallback", "reason_codes"]


class DecisionReplayRequest(Contract):
    """Body of `POST /v1/decisions/{id}/replay`: what to replay the decision under; each defaults to what made it."""

    policy_version: int | None = Field(
        default=None,
        ge=1,
        description="A registered policy version of the decision's use case; null: the policy that made the decision.",
    )
    model_version: Version | None = Field(
        default=None,
        description=(
            "The model version that made the decision, or one the use case's traffic plan serves now (its champion "
            "or challenger); null: the version that scored the decision, or the champion where none did."
        ),
    )


class ReplayBinding(Contract):
    """The policy and the model of one side of a replay."""

    policy: PolicyRef | None = Field(
        description="The policy version; null for a decision made before decisions recorded their policy."
    )
    model: ModelRef | None = Field(
        description="The model version that scored (for the replay: that was asked to score); null where none was."
    )


class ReplayOutcome(Contract):
    """What one side of a replay decided."""

    outcome: str
    score: float | None
    review_required: bool
    fallback: bool
    fallback_reason: str | None = None
    reason_codes: list[str] = Field(description="The codes of the decision's reasons, in its order.")


class ReplayDifference(Contract):
    """One field on which the replay differs from the decision, and why."""

    field: ReplayedField
    original: JsonValue
    replayed: JsonValue
    why: str = Field(description="What made the difference: the policy change, the model, the rule or the fallback.")


class DecisionReplay(Contract):
    """A stored decision recomputed, beside the decision as it was made; `same` when nothing differs."""

    schema_version: Literal["replay.v1"] = "replay.v1"
    decision_id: str
    use_case: str
    made_with: ReplayBinding
    replayed_with: ReplayBinding
    same: bool = Field(description="True when the replay decided exactly as the decision was made: no difference.")
    original: ReplayOutcome
    replayed: ReplayOutcome
    differences: list[ReplayDifference]
    trace_id: str
    replayed_at: Instant
