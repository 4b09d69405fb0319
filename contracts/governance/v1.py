"""Governance contract, version 1: outcomes, reviews, explanations, drift, bias, quality, usage and coverage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts._base import Contract, Instant
from contracts.decision.v1 import Identifier, ModelRef, Override, Reason


class OutcomeReport(Contract):
    """Body of `POST /v1/decisions/{decision_id}/outcome`: the ground truth of one decision."""

    label: bool = Field(description="True when the manifest's target turned out positive (e.g. the fraud was real).")
    observed_at: Instant | None = Field(default=None, description="When the truth became known; now if absent.")
    source: Identifier | None = Field(default=None, description="Where the truth comes from, e.g. chargebacks.")


class RecordedOutcome(Contract):
    """A decision's ground truth, joined to the decision."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    decision_id: str
    use_case: str
    label: bool
    observed_at: Instant
    source: str | None
    reported_by: str
    recorded_at: Instant
    model: ModelRef | None
    score: float | None
    outcome: str


class ReviewOverride(Contract):
    """Body of `POST /v1/reviews/{review_id}`: a reviewer's final outcome and why."""

    outcome: str = Field(min_length=1, max_length=64)
    justification: str = Field(min_length=10, max_length=2000)


class Review(Contract):
    """A decision waiting for, or given, a person's review. Its id is the decision's id."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    review_id: str
    decision_id: str
    use_case: str
    status: Literal["pending", "resolved"]
    decided_at: Instant
    outcome: str = Field(description="The outcome the platform gave: the review band's outcome.")
    score: float | None
    model: ModelRef | None
    reasons: list[Reason]
    inputs: dict[str, object] = Field(
        description="The decision's stored (minimized) inputs; those marked pii or protected read '***' unless the "
        "caller's role is granted them."
    )
    override: Override | None = None


class ReviewList(Contract):
    """Body of `GET /v1/reviews`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    reviews: list[Review]
    next_cursor: str | None = None


class Explanation(Contract):
    """Body of `GET /v1/decisions/{decision_id}/explanation`: the reasons as stored at decision time."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    decision_id: str
    use_case: str
    outcome: str = Field(description="The outcome the platform decided, before any review.")
    final_outcome: str = Field(description="The outcome that stands, after any review.")
    score: float | None
    threshold: float | None
    model: ModelRef | None
    fallback: bool
    reasons: list[Reason]
    features: dict[str, float] | None = Field(description="The feature values the model scored, if it scored.")
    decided_at: Instant
    masked_features: list[str] = Field(
        default_factory=list,
        description="Features computed from inputs marked pii or protected that the caller's role is not granted: "
        "left out of features, and their reasons carry no value or contribution.",
    )


class FeatureDrift(Contract):
    """One feature's (or the score's) drift against the version's training baseline."""

    feature: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi_square"]
    psi: float
    statistic: float
    p_value: float
    live_rows: int
    drifted: bool


class DriftReport(Contract):
    """One live version's drift over one window; `insufficient` when the window held too few rows."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    report_id: str
    use_case: str
    model_name: str
    model_version: str
    role: Literal["champion", "challenger"]
    window_start: Instant
    window_end: Instant
    computed_at: Instant
    status: Literal["stable", "drift", "insufficient"]
    rows: int
    min_rows: int
    max_psi: float
    max_p_value: float
    features: list[FeatureDrift]
    score: FeatureDrift | None
    drifted_features: list[str]
    retraining_job_id: str | None = Field(default=None, description="The job the drift started, if any.")


class DriftReports(Contract):
    """Body of `GET /v1/use-cases/{use_case}/drift`: the latest report per live version, then history."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    use_case: str
    latest: list[DriftReport]
    history: list[DriftReport]


class GroupIndicators(Contract):
    """One protected group's decisions (and outcomes) under one version."""

    group: str
    rows: int
    favorable_rate: float
    labelled_favorable: int = Field(description="Rows whose ground truth is the favorable outcome.")
    true_favorable_rate: float | None = Field(description="Favorable decisions among them (equal opportunity).")


class BiasIndicators(Contract):
    """Bias indicators of one protected attribute under one version over one window."""

    attribute: str
    model_version: str
    groups: list[GroupIndicators]
    disparate_impact: float | None = Field(description="Lowest over highest favorable rate; None if unmeasurable.")
    equal_opportunity_difference: float | None = Field(description="None until enough outcomes exist.")
    alerts: list[str]


class BiasReport(Contract):
    """Body of `GET /v1/use-cases/{use_case}/bias`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    report_id: str
    use_case: str
    window_start: Instant
    window_end: Instant
    computed_at: Instant
    min_disparate_impact: float
    max_equal_opportunity_difference: float
    min_group_rows: int
    indicators: list[BiasIndicators]


class QualityPoint(Contract):
    """Quality of one version over one time bucket, from decisions with recorded outcomes."""

    model_version: str
    start: Instant
    end: Instant
    rows: int
    positives: int
    auc: float | None
    precision: float | None
    recall: float | None


class QualityReport(Contract):
    """Body of `GET /v1/use-cases/{use_case}/quality`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    use_case: str
    threshold: float
    bucket_minutes: int
    points: list[QualityPoint]


class AbuseThrottle(Contract):
    """A key's rate lowered on its own by the abuse monitor, because its plan throttles on abuse."""

    key_id: str
    plan: str
    rate_per_s: float = Field(description="The lowered sustained rate, in requests per second.")
    burst: int
    until: Instant = Field(description="When the key's plan applies again, unless a later run renews the throttle.")


class AbuseEvidence(Contract):
    """What an abuse alert found: the signal, its figures against their thresholds, and whose requests they were."""

    signal: Literal["rate", "probing", "out_of_baseline"]
    principal: str
    key_ids: list[str] = Field(description="The principal's keys scoped to the use case.")
    window_start: Instant
    window_end: Instant
    requests: int = Field(description="The principal's requests in the window.")
    figures: dict[str, float | int | str] = Field(
        description="The signal's measurements and the thresholds they crossed (see docs/security.md)."
    )
    sample_decision_ids: list[str] = Field(description="Decisions of the window that show the signal.")
    throttles: list[AbuseThrottle] = Field(default_factory=list, description="Keys throttled when the alert opened.")


class Alert(Contract):
    """A drift, bias or abuse threshold crossed; open until a later run finds it clear."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    alert_id: str
    use_case: str
    kind: Literal["drift", "bias", "abuse"]
    model_version: str = Field(description="The version judged: for abuse, the champion whose baseline applied.")
    subject: str = Field(
        description="The drifted features, the protected attribute and indicator, or the abuse signal and principal."
    )
    message: str
    opened_at: Instant
    closed_at: Instant | None = None
    report_id: str
    evidence: AbuseEvidence | None = Field(default=None, description="What an abuse alert found; None otherwise.")


class AbuseReport(Contract):
    """One abuse monitor run over one use case: how many principals it judged and what it found."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    report_id: str
    use_case: str
    model_version: str = Field(description="The champion whose training baseline the inputs were judged against.")
    window_start: Instant
    window_end: Instant
    computed_at: Instant
    status: Literal["clear", "abuse"]
    principals: int = Field(description="Principals with requests in the window.")
    requests: int = Field(description="Requests in the window, of every principal.")
    findings: list[AbuseEvidence]


class AlertList(Contract):
    """Body of `GET /v1/alerts`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    alerts: list[Alert]


class UsageRow(Contract):
    """Decisions of one use case, version and principal over the window."""

    use_case: str
    model_version: str | None
    principal: str | None
    decisions: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    fallback_rate: float
    review_rate: float
    override_rate: float | None = Field(description="Overridden among reviewed decisions; None when none reviewed.")


class ThrottledRow(Contract):
    """Requests of one principal refused over its key's rate plan (429) in the window, per use case."""

    use_case: str | None
    principal: str | None
    requests: int


class UsageReport(Contract):
    """Body of `GET /v1/usage`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    since: Instant
    until: Instant
    rows: list[UsageRow]
    throttled: list[ThrottledRow] = Field(default_factory=list, description="Requests refused by rate plans.")


class AuditLag(Contract):
    """How long accepted events waited for their hash chain: the audit writer's transactions over the window.

    Each transaction's lag is the wait of its oldest bundle, from acceptance to the commit that chained it.
    """

    batches: int = Field(description="The audit writer's transactions that chained events in the window.")
    events: int = Field(description="Events they chained.")
    lag_p50_s: float | None = Field(description="Median transaction lag in seconds (nearest rank); None with none.")
    lag_p99_s: float | None
    lag_max_s: float | None


class ProcessKpis(Contract):
    """How a use case's models were changed and overseen over a window: body of `GET /v1/use-cases/{use_case}/kpis`,
    and one row per use case of `leaim governance report`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    use_case: str
    since: Instant
    until: Instant
    deployments: int = Field(description="Versions put in traffic: new champions and new challengers.")
    promotions: int = Field(description="New champions, the use case's first one included.")
    deployments_per_week: float = Field(description="Deployment frequency: promotions per seven days of the window.")
    lead_time_p50_hours: float | None = Field(
        description="From the creation of the training job to its version becoming champion, the median over the "
        "window's promotions of trained versions; None without one."
    )
    lead_time_max_hours: float | None
    rollbacks: int = Field(description="Challengers taken out of traffic and champions restored, by anyone.")
    change_failure_rate: float | None = Field(
        description="Rollbacks over deployments: the share of changes that had to be undone; None without one."
    )
    alerts_opened: int = Field(description="Drift and bias alerts opened in the window.")
    alerts_closed: int = Field(description="Drift and bias alerts closed in the window.")
    alerts_open: int = Field(description="Drift and bias alerts still open at the end of the window.")
    mean_time_to_recovery_hours: float | None = Field(
        description="From opening to closing, the mean over the alerts closed in the window; None without one."
    )
    training_jobs: int = Field(description="Training jobs created in the window.")
    training_jobs_by_trigger: dict[str, int]
    versions_trained: int = Field(description="Jobs of the window that produced an approved version.")
    retraining_interval_days: float | None = Field(
        description="Retraining cadence: the mean time between consecutive training jobs; None with fewer than two."
    )
    decisions: int
    review_rate: float | None = Field(description="Share of the decisions sent to a reviewer.")
    override_rate: float | None = Field(description="Share of the reviewed decisions a reviewer has decided so far.")


class EvidenceItem(Contract):
    """One requirement of the compliance map, and whether the running system holds its evidence for a use case."""

    anchor: str = Field(description="The article or framework, e.g. `EU AI Act Art. 13`.")
    requirement: str
    status: Literal["evidence", "gap"]
    evidence: str = Field(description="What answers the requirement, and the route or command that shows it.")
    gaps: list[str] = Field(description="What is missing; empty when the status is `evidence`.")


class UseCaseEvidence(Contract):
    """The compliance map of one use case, item by item."""

    use_case: str
    items: list[EvidenceItem]
    gaps: int = Field(description="How many items are gaps.")


class CoverageReport(Contract):
    """The Governance Coverage Ratio, measured: body of `GET /v1/governance/coverage` and `leaim governance report`."""

    schema_version: Literal["governance.v1"] = "governance.v1"
    since: Instant
    until: Instant
    invocations: int
    invocations_audited: int
    audit_coverage: float | None = Field(description="Share of invocations with their audit event; must be 1.")
    unaudited_invocations: list[str] = Field(description="Up to 20 invocations with no audit event.")
    decisions: int
    decisions_explained: int
    explanation_coverage: float | None
    live_versions: int
    live_versions_governed: int = Field(description="Signed manifest, a baseline and passed gates.")
    version_coverage: float | None
    ungoverned_versions: list[str]
    open_alerts: list[Alert]
    coverage_ratio: float | None = Field(description="The mean of the three shares that can be measured.")
    audit_lag: AuditLag | None = Field(
        default=None, description="From acceptance to the hash chain, over the window; None where it is not kept."
    )
    kpis: list[ProcessKpis] = Field(default_factory=list, description="The process KPIs of every use case, by name.")
    evidence: list[UseCaseEvidence] = Field(
        default_factory=list, description="Which items of the compliance map have evidence for each use case, by name."
    )


class LegalHoldRequest(Contract):
    """Place a legal hold: nothing of the use case is purged while it is on; body of its POST."""

    reason: str = Field(min_length=1, max_length=2000, description="The matter the records are held for.")


class LegalHoldRelease(Contract):
    """Release a legal hold; body of its POST."""

    reason: str = Field(min_length=1, max_length=2000)


class LegalHold(Contract):
    """A legal hold on a use case's records: placed, and released once the matter ends."""

    hold_id: str
    use_case: str
    reason: str
    placed_by: str
    placed_at: Instant
    released_by: str | None = None
    released_at: Instant | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        """Whether the hold still stops the purge."""
        return self.released_at is None


class LegalHoldList(Contract):
    """A use case's legal holds, newest first; body of `GET /v1/use-cases/{use_case}/legal-holds`."""

    use_case: str
    held: bool = Field(description="Whether any hold is on: the purge removes nothing of the use case.")
    holds: list[LegalHold]
