"""Decision contract, version 1: what a business caller sends and receives."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, StringConstraints

from contracts._base import Contract, Instant

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")]


class DecisionRequest(Contract):
    """A request for one governed decision; `inputs` are checked against the use case's manifest."""

    schema_version: Literal["decision.v1"] = Field(
        default="decision.v1", description="The contract version; may be left out."
    )
    request_id: Identifier = Field(description="Caller's idempotency key: the same id yields the same decision.")
    inputs: dict[str, JsonValue] = Field(
        description="Input fields named by the use case's manifest; their types are checked against it."
    )


class Reason(Contract):
    """One reason behind a decision: a feature's contribution, a rule that fired, or a fallback."""

    kind: Literal["feature", "rule", "threshold", "fallback"]
    code: str
    message: str
    feature: str | None = None
    value: float | None = None
    contribution: float | None = None


class ModelRef(Contract):
    """The exact model version that scored a decision."""

    name: str
    version: str
    artifact_digest: str


class PolicyRef(Contract):
    """The exact version of the use case's decision policy that made a decision."""

    version: int | None = Field(
        description="The registered version; null for a decision made from the bootstrap file before it was seeded."
    )
    digest: str = Field(description="sha256 of the policy document: the registered version of this digest.")


class Override(Contract):
    """A reviewer's outcome over the platform's, for a decision in the review band."""

    review_id: str
    original_outcome: str
    outcome: str
    justification: str
    reviewer: str
    reviewed_at: Instant
    event_id: str = Field(description="The audit event that stored the override.")


class PrincipalReason(Contract):
    """One principal reason of an adverse action, ranked by how much it pushed the decision toward the outcome."""

    rank: int = Field(ge=1, le=4)
    code: str
    statement: str
    kind: Literal["feature", "rule", "fallback"] = Field(
        description="What decided: a scored factor, a rule, a fallback."
    )
    factor: str = Field(description="The model feature or rule it stands for (`fallback` for a fallback).")
    contribution: float | None = Field(
        default=None, description="The factor's log-odds contribution toward the outcome; features only."
    )


StopMode = Literal["fallback", "review"]


class StopNotice(Contract):
    """The use case was stopped (EU AI Act Art. 14): no model decided, every answer goes to `mode`."""

    mode: StopMode = Field(description="fallback: the manifest's fallback outcome; review: a person decides.")
    reason: str
    stopped_at: Instant


class DecisionResponse(Contract):
    """The governed decision, with everything needed to explain and audit it."""

    schema_version: Literal["decision.v1"] = "decision.v1"
    decision_id: str
    request_id: str
    use_case: str
    outcome: str
    score: float | None
    reasons: list[Reason]
    model: ModelRef | None
    policy: PolicyRef | None = Field(default=None, description="The decision policy version that decided.")
    fallback: bool
    fallback_reason: str | None = None
    review_required: bool
    trace_id: str
    decided_at: Instant
    latency_ms: float
    override: Override | None = Field(
        default=None, description="Set once a reviewer decided: `outcome` is then the reviewer's outcome."
    )
    principal_reasons: list[PrincipalReason] | None = Field(
        default=None,
        description=(
            "Set when the outcome is adverse, or in review (what a reviewer's adverse outcome would state): at most "
            "four, from the factors the model scored, the rule or the fallback that decided."
        ),
    )
    stopped: StopNotice | None = Field(
        default=None, description="Set while the use case is stopped: the answer is its fallback or a review."
    )


class AdverseActionNotice(Contract):
    """The notice of an adverse decision, with its principal reasons; body of `GET /v1/decisions/{id}/notice`."""

    decision_id: str
    request_id: str
    use_case: str
    outcome: str = Field(description="The decision's outcome as it stands: a reviewer's, once one decided.")
    decided_at: Instant
    reviewed: bool = Field(description="Whether a person decided the outcome (an override of a review).")
    creditor: str
    reasons: list[PrincipalReason] = Field(description="At most four, the strongest first.")
    contact: str
    text: str = Field(description="The notice as the consumer reads it.")


class DecisionMessage(Contract):
    """Body of a message on the decision queue: the use case and the request."""

    schema_version: Literal["decision.v1"] = Field(
        default="decision.v1", description="The contract version; may be left out."
    )
    use_case: Identifier
    request: DecisionRequest
