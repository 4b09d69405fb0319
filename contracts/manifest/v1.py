"""Use-case manifest, version 1: everything that defines a governed decision, written as YAML.

Onboarding a decision means writing one of these and supplying data; the platform code is shared.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from contracts._base import Contract
from contracts.training.v2 import Family, ParamValue, param_problems

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Scalar = str | int | float | bool


class InputField(Contract):
    """One field a caller sends, with its type, its range and how it must be governed."""

    name: Name
    type: Literal["string", "number", "integer", "boolean", "category"]
    required: bool = True
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = Field(default=None, ge=1)
    allowed: list[str] | None = Field(default=None, description="Allowed values of a category field.")
    pii: bool = Field(default=False, description="Personal data: tokenized before it is stored anywhere.")
    protected: bool = Field(default=False, description="Protected attribute, monitored for bias, never a feature.")

    @model_validator(mode="after")
    def _consistent(self) -> InputField:
        if self.type == "category" and not self.allowed:
            raise ValueError(f"category field {self.name!r} needs 'allowed' values")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field {self.name!r}: minimum is above maximum")
        return self


class OnlineFeature(Contract):
    """A value read from the online feature store by the use case's entity key."""

    name: Name
    type: Literal["number", "integer", "category"]
    default: Scalar = Field(description="Used when the entity has no value yet.")


class Feature(Contract):
    """A model feature computed from inputs and online features by one shared transform."""

    name: Name
    transform: Literal["identity", "log1p", "ratio", "indicator", "mismatch", "in_range"]
    source: str = Field(description="Input or online feature the transform reads.")
    other: str | None = Field(default=None, description="Second operand of ratio and mismatch.")
    equals: Scalar | None = Field(default=None, description="Value an indicator compares with.")
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _operands(self) -> Feature:
        if self.transform in ("ratio", "mismatch") and self.other is None:
            raise ValueError(f"feature {self.name!r}: {self.transform} needs 'other'")
        if self.transform == "indicator" and self.equals is None:
            raise ValueError(f"feature {self.name!r}: indicator needs 'equals'")
        if self.transform == "in_range" and (self.low is None or self.high is None):
            raise ValueError(f"feature {self.name!r}: in_range needs 'low' and 'high'")
        return self


class ModelSpec(Contract):
    """Which model family scores this use case, and how it is trained."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9\-]{0,62}$")]
    family: Family
    target: Name
    params: dict[str, ParamValue] = Field(default_factory=dict)
    scheduled_retraining: bool = Field(
        default=False,
        description="Retrain on a fresh snapshot, deployed in shadow, each time the retraining schedule runs.",
    )


class Gates(Contract):
    """What a trained version must show on its held-out split before it may serve traffic."""

    min_auc: float = Field(default=0.7, ge=0.0, le=1.0)
    min_precision: float = Field(default=0.0, ge=0.0, le=1.0, description="At the decision threshold.")
    min_recall: float = Field(default=0.0, ge=0.0, le=1.0, description="At the decision threshold.")
    max_calibration_error: float = Field(default=0.1, ge=0.0, le=1.0)
    min_disparate_impact: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Lowest over highest favorable-outcome rate among protected groups."
    )
    min_group_rows: int = Field(default=30, ge=1, description="Smaller groups are reported, not gated.")
    max_parity_diff: float = Field(default=1e-5, gt=0.0, description="ONNX against the native model.")
    max_latency_p99_ms: float = Field(default=5.0, gt=0.0, description="One-row scoring on the exported model.")


class Promotion(Contract):
    """How the promotion controller judges a challenger against the champion."""

    window_minutes: float = Field(default=60.0, gt=0.0)
    min_requests: int = Field(default=50, ge=1, description="Challenger calls needed before any verdict but rollback.")
    max_error_rate_increase: float = Field(default=0.02, ge=0.0, le=1.0)
    max_fallback_rate_increase: float = Field(default=0.02, ge=0.0, le=1.0)
    max_latency_ratio: float = Field(default=1.5, gt=1.0, description="Challenger p95 over champion p95.")
    min_latency_increase_ms: float = Field(
        default=10.0,
        ge=0.0,
        description="A challenger's p95 above the ratio is a regression only when it is also this much slower.",
    )
    canary_percent: float = Field(default=10.0, gt=0.0, lt=100.0, description="Share a shadow challenger advances to.")


class Condition(Contract):
    """A deterministic test on one input or online feature."""

    field: str
    op: Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"]
    value: Scalar | list[Scalar]


class Rule(Contract):
    """A deterministic business rule; the first rule whose conditions all hold decides."""

    name: Name
    when: list[Condition] = Field(min_length=1)
    outcome: str
    reason: str


class ReviewBand(Contract):
    """Scores in [low, high) are not confident enough to decide automatically."""

    low: float = Field(ge=0.0, le=1.0)
    high: float = Field(ge=0.0, le=1.0)
    outcome: str

    @model_validator(mode="after")
    def _ordered(self) -> ReviewBand:
        if self.low >= self.high:
            raise ValueError("review band: low must be below high")
        return self


class DecisionPolicy(Contract):
    """How a score becomes an outcome."""

    outcomes: list[str] = Field(min_length=2)
    threshold: float = Field(ge=0.0, le=1.0, description="Scores at or above it get positive_outcome.")
    positive_outcome: str
    negative_outcome: str
    review_band: ReviewBand | None = None
    rules: list[Rule] = Field(default_factory=list)


ReasonCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")]


class ReasonStatement(Contract):
    """A reason code and the statement a consumer reads in an adverse-action notice."""

    code: ReasonCode
    statement: str = Field(min_length=1, max_length=200)


class AdverseAction(Contract):
    """Adverse-action notices (ECOA / Regulation B; EU AI Act Art. 86): which outcomes are adverse, and the reason
    code and statement of every factor that can cause one."""

    outcomes: list[str] = Field(min_length=1, description="The outcomes that are adverse actions.")
    features: dict[str, ReasonStatement] = Field(
        description="A statement for every model feature: the scored factors that pushed toward the outcome."
    )
    rules: dict[str, ReasonStatement] = Field(
        default_factory=dict, description="Per rule; a rule without one is stated by its own reason."
    )
    fallback: ReasonStatement | None = Field(
        default=None, description="The reason of an adverse fallback; the fallback's own reason otherwise."
    )
    max_reasons: int = Field(default=4, ge=1, le=4, description="Principal reasons per notice (at most four).")
    creditor: str = Field(min_length=1, max_length=200, description="Who takes the action, as the notice names it.")
    contact: str = Field(
        min_length=1, max_length=2000, description="How to ask about the decision, and the consumer's rights."
    )


class Documentation(Contract):
    """What the technical documentation (EU AI Act Annex IV) needs and the platform cannot generate; a field left
    empty is reported as a gap of the generated document."""

    intended_purpose: str = Field(default="", max_length=4000, description="Annex IV 1(a); the description if empty.")
    foreseeable_risks: str = Field(
        default="", max_length=4000, description="Annex IV 3: foreseeable unintended outcomes and sources of risk."
    )
    metric_rationale: str = Field(
        default="", max_length=4000, description="Annex IV 4: why the gated metrics are the appropriate ones."
    )
    risk_management: str = Field(default="", max_length=4000, description="Annex IV 5: the risk management system.")
    standards: list[str] = Field(default_factory=list, description="Annex IV 7: harmonised standards applied.")
    declaration_of_conformity: str = Field(
        default="", max_length=2000, description="Annex IV 8: where the EU declaration of conformity is kept."
    )


# Retention floors no setting can go below: EU AI Act Art. 19 and 26(6) keep the automatic logs at least six months;
# ECOA / Regulation B (12 CFR 1002.12(b)) keeps credit applications, the information used and the notices 25 months.
LOG_FLOOR_DAYS = 183
CREDIT_FLOOR_DAYS = 762


class Retention(Contract):
    """How long a use case's records are kept before the scheduled purge removes them; each period at least its
    floor (six months; 25 months for credit decisions), and no part of a decision kept past the decision itself."""

    credit: bool = Field(
        default=False, description="The decisions are credit decisions (ECOA / Regulation B): 25-month floors."
    )
    audit_events_days: int = Field(description="The use case's audit events (EU AI Act Art. 12 logs).")
    decisions_days: int = Field(description="Its decisions, with their overrides and outcomes.")
    inputs_days: int | None = Field(
        default=None, description="The inputs and model features of a decision; the decision's period if unset."
    )
    explanations_days: int | None = Field(
        default=None, description="The reasons a decision states; the decision's period if unset."
    )

    @property
    def floor_days(self) -> int:
        """The shortest period any of its settings may have."""
        return CREDIT_FLOOR_DAYS if self.credit else LOG_FLOOR_DAYS

    @property
    def inputs(self) -> int:
        """Days the inputs and features are kept."""
        return self.decisions_days if self.inputs_days is None else self.inputs_days

    @property
    def explanations(self) -> int:
        """Days the reasons are kept."""
        return self.decisions_days if self.explanations_days is None else self.explanations_days

    @model_validator(mode="after")
    def _within_floors(self) -> Retention:
        floor = self.floor_days
        why = "a credit decision's records are kept" if self.credit else "audit logs are kept"
        periods = {
            "audit_events_days": self.audit_events_days,
            "decisions_days": self.decisions_days,
            "inputs_days": self.inputs,
            "explanations_days": self.explanations,
        }
        problems = [
            f"{name} is {days}, below the floor of {floor} days ({why} at least {floor} days)"
            for name, days in periods.items()
            if days < floor
        ]
        if self.decisions_days > self.audit_events_days:
            problems.append(
                f"decisions_days ({self.decisions_days}) exceeds audit_events_days ({self.audit_events_days}): a "
                "decision is kept no longer than the audit events that record it"
            )
        problems += [
            f"{name} ({days}) exceeds decisions_days ({self.decisions_days}): no part of a decision outlives it"
            for name, days in (("inputs_days", self.inputs), ("explanations_days", self.explanations))
            if days > self.decisions_days
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Fallback(Contract):
    """What callers get when the model path fails (timeout, open circuit, worker error)."""

    outcome: str
    reason: str


class Monitoring(Contract):
    """How the monitor judges live traffic: drift against each live version's training baseline, and bias."""

    window_hours: float = Field(default=24.0, gt=0.0, description="Live decisions of the last hours are compared.")
    min_rows: int = Field(default=200, ge=1, description="A smaller window is reported as insufficient.")
    max_psi: float = Field(default=0.2, gt=0.0, description="A feature drifts at or above this PSI ...")
    max_p_value: float = Field(default=0.01, gt=0.0, le=1.0, description="... when its test's p-value is below this.")
    retrain_on_drift: bool = Field(default=True, description="Drift emits a retraining request.")
    retrain_window_days: float | None = Field(
        default=None,
        gt=0.0,
        description="A drift retraining trains on the records of the last days only; on all records when unset.",
    )
    max_equal_opportunity_difference: float = Field(default=0.1, ge=0.0, le=1.0)


class UseCaseManifest(Contract):
    """A governed decision: its inputs, features, model, rules, fallback and latency budget."""

    schema_version: Literal["manifest.v1"] = "manifest.v1"
    name: Name
    description: str
    owner: str
    entity_key: str = Field(description="Input field whose value keys the online feature store.")
    inputs: list[InputField] = Field(min_length=1)
    online_features: list[OnlineFeature] = Field(default_factory=list)
    features: list[Feature] = Field(min_length=1)
    model: ModelSpec
    decision: DecisionPolicy
    fallback: Fallback
    latency_budget_ms: int = Field(gt=0, le=30_000)
    gates: Gates = Field(default_factory=Gates)
    promotion: Promotion = Field(default_factory=Promotion)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    adverse_action: AdverseAction | None = Field(
        default=None, description="Adverse-action notices for the outcomes it names; none without it."
    )
    documentation: Documentation = Field(default_factory=Documentation)
    retention: Retention | None = Field(
        default=None, description="How long its records are kept; without it nothing is purged."
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> UseCaseManifest:
        inputs = {field.name: field for field in self.inputs}
        known = set(inputs) | {feature.name for feature in self.online_features}
        problems: list[str] = []
        if len(inputs) != len(self.inputs):
            problems.append("input names must be unique")
        if self.entity_key not in inputs:
            problems.append(f"entity_key {self.entity_key!r} is not an input")
        elif not inputs[self.entity_key].required:
            problems.append(f"entity_key {self.entity_key!r} must be a required input")
        for feature in self.features:
            for operand in (feature.source, feature.other):
                if operand is None:
                    continue
                if operand not in known:
                    problems.append(f"feature {feature.name!r} reads unknown field {operand!r}")
                elif operand in inputs and inputs[operand].protected:
                    problems.append(f"feature {feature.name!r} reads protected attribute {operand!r}")
        policy = self.decision
        outcomes = set(policy.outcomes)
        named = [policy.positive_outcome, policy.negative_outcome, self.fallback.outcome]
        named += [rule.outcome for rule in policy.rules]
        if policy.review_band is not None:
            named.append(policy.review_band.outcome)
        problems += [f"outcome {name!r} is not in decision.outcomes" for name in named if name not in outcomes]
        for rule in policy.rules:
            problems += [
                f"rule {rule.name!r} tests unknown field {c.field!r}" for c in rule.when if c.field not in known
            ]
        problems += param_problems(self.model.family, dict(self.model.params))
        problems += self._adverse_action_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _adverse_action_problems(self) -> list[str]:
        adverse = self.adverse_action
        if adverse is None:
            return []
        outcomes = set(self.decision.outcomes)
        features = set(self.feature_names)
        rules = {rule.name for rule in self.decision.rules}
        problems = [
            f"adverse outcome {name!r} is not in decision.outcomes" for name in adverse.outcomes if name not in outcomes
        ]
        problems += [
            f"adverse_action has no statement for feature {name!r}"
            for name in self.feature_names
            if name not in adverse.features
        ]
        problems += [
            f"adverse_action states unknown feature {name!r}" for name in adverse.features if name not in features
        ]
        problems += [f"adverse_action states unknown rule {name!r}" for name in adverse.rules if name not in rules]
        return problems

    @property
    def feature_names(self) -> list[str]:
        """Model feature names, in the order the model sees them."""
        return [feature.name for feature in self.features]
