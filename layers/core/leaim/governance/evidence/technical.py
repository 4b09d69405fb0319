"""The technical documentation of a model version and its use case (EU AI Act Annex IV), generated from the registry.

Every Annex IV item has its section. What the platform recorded fills it: the signed manifest (family, parameters,
metrics, gates, lineage, signature), the snapshot lineage, the active policy (rules, thresholds, review, fallback,
promotion and monitoring settings), the policy versions and the trail of traffic and policy changes, and the worker
images. What it cannot know (the foreseeable risks, why these metrics, the risk management system, the standards
applied, the declaration of conformity) comes from the manifest's `documentation`; an empty one is listed as a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leaim.governance.evidence.instructions import GeneratedDocument, collapse, number

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from contracts.manifest.v1 import Feature, UseCaseManifest
    from contracts.model.v1 import SignedManifest
    from leaim.governance.evidence.bom import WorkerImage

ANNEX_IV = (
    "1. General description",
    "2. Elements and development process",
    "3. Monitoring, functioning and control",
    "4. Appropriateness of the performance metrics",
    "5. Risk management system",
    "6. Changes over the lifecycle",
    "7. Harmonised standards applied",
    "8. EU declaration of conformity",
    "9. Post-market monitoring",
)


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """One registered version of the use case's policy."""

    version: int
    state: str
    digest: str
    proposed_by: str
    note: str


@dataclass(frozen=True, slots=True)
class Change:
    """One audited change of the use case's traffic, policy or stop switch."""

    at: datetime
    action: str
    principal: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class TechnicalSources:
    """What the documentation of one version is generated from."""

    use_case: UseCaseManifest
    signed: SignedManifest
    policy_version: int | None
    policy_digest: str
    policies: Sequence[PolicyEntry] = field(default_factory=tuple)
    changes: Sequence[Change] = field(default_factory=tuple)
    images: Sequence[WorkerImage] = field(default_factory=tuple)
    packages: int = 0


def annex_iv_gaps(use_case: UseCaseManifest) -> list[str]:
    """The Annex IV items that only the manifest's `documentation` can fill, and that it leaves empty."""
    documentation = use_case.documentation
    gaps = []
    if not documentation.foreseeable_risks.strip():
        gaps.append(f"{ANNEX_IV[2]}: foreseeable risks (documentation.foreseeable_risks) are not declared")
    for title, text, source in (
        (ANNEX_IV[3], documentation.metric_rationale, "documentation.metric_rationale"),
        (ANNEX_IV[4], documentation.risk_management, "documentation.risk_management"),
    ):
        if not text.strip():
            gaps.append(f"{title}: not declared ({source})")
    if not documentation.standards:
        gaps.append(f"{ANNEX_IV[6]}: none declared (documentation.standards)")
    if not documentation.declaration_of_conformity.strip():
        gaps.append(f"{ANNEX_IV[7]}: not declared (documentation.declaration_of_conformity)")
    return gaps


def technical_documentation(sources: TechnicalSources) -> GeneratedDocument:
    """The Annex IV technical documentation of `sources.signed`, one section per item, and its gaps."""
    gaps = annex_iv_gaps(sources.use_case)
    manifest, use_case = sources.signed.manifest, sources.use_case
    documentation = use_case.documentation
    lines = [
        f"# Technical documentation: {manifest.model_name} {manifest.model_version} ({use_case.name})",
        "",
        f"Generated from the registry. Artifact sha256 `{manifest.artifact_digest}`, signed with Ed25519 key "
        f"`{sources.signed.key_id}`; policy "
        f"{f'version {sources.policy_version}' if sources.policy_version is not None else 'from its bootstrap file'} "
        f"(sha256 `{sources.policy_digest}`).",
        "",
    ]
    sections = (
        _general(sources),
        _development(sources),
        _functioning(sources),
        _text(ANNEX_IV[3], documentation.metric_rationale),
        _text(ANNEX_IV[4], documentation.risk_management),
        _changes(sources),
        _standards(documentation.standards),
        _text(ANNEX_IV[7], documentation.declaration_of_conformity),
        _monitoring(use_case),
    )
    for section in sections:
        lines += [*section, ""]
    if gaps:
        lines += ["## Gaps", "", *(f"- {gap}" for gap in gaps), ""]
    return GeneratedDocument("\n".join(collapse(lines)), tuple(gaps))


def _general(sources: TechnicalSources) -> list[str]:
    manifest, use_case = sources.signed.manifest, sources.use_case
    purpose = use_case.documentation.intended_purpose.strip() or use_case.description.strip()
    images = "; ".join(f"{image.name} (Python {image.python_version}, {image.gpu} GPU)" for image in sources.images)
    return [
        f"## {ANNEX_IV[0]}",
        "",
        f"- Intended purpose: {purpose}",
        f"- Provider: {use_case.owner}",
        f"- Versions: model {manifest.model_version}, code {manifest.lineage.code_version}, policy "
        f"{sources.policy_version if sources.policy_version is not None else '(bootstrap file)'}",
        f"- Interaction with other systems: business services call `POST /v1/decisions/{use_case.name}` or send "
        "a message to the decision queue; the model is reached only through the platform's orchestration.",
        f"- Software: {sources.packages} locked dependencies, listed with their versions in the ML-BOM "
        f"(`leaim bom {use_case.name}`).",
        f"- Hardware: {images or 'the worker images are not known to this document'}.",
        f"- Instructions for use: `leaim instructions {use_case.name}`.",
    ]


def _development(sources: TechnicalSources) -> list[str]:
    manifest, use_case = sources.signed.manifest, sources.use_case
    metrics, lineage, policy = manifest.metrics, manifest.lineage, use_case.decision
    params = ", ".join(f"{name}={value}" for name, value in sorted(manifest.params.items())) or "defaults"
    band = policy.review_band
    lines = [
        f"## {ANNEX_IV[1]}",
        "",
        f"- Method: supervised {manifest.family} on the target `{use_case.model.target}`, parameters {params}, "
        f"seed {manifest.seed}; exported to ONNX and checked against the native model (largest difference "
        f"{number(metrics.parity_max_abs_diff)}).",
        f"- Design: scores at or above {manifest.threshold:g} give `{policy.positive_outcome}`, below give "
        f"`{policy.negative_outcome}`"
        + (f"; scores in [{band.low:g}, {band.high:g}) go to review as `{band.outcome}`" if band else "")
        + f"; rules decide first ({', '.join(rule.name for rule in policy.rules) or 'none'}); when the model path "
        f"fails the answer is `{use_case.fallback.outcome}`.",
        f"- Data: dataset `{lineage.dataset}`, snapshot `{lineage.snapshot_id}` (sha256 `{lineage.snapshot_sha256}`), "
        f"{metrics.train_rows} rows for training and {metrics.holdout_rows} held out, features of version "
        f"{lineage.feature_version}; training job `{lineage.training_job_id}` ({lineage.trigger}, by "
        f"{lineage.requested_by}).",
        f"- Features: {'; '.join(_feature(feature) for feature in use_case.features)}.",
        "- Human oversight: the review band, reviewers' overrides with a justification, and the stop switch "
        f"(`leaim stop {use_case.name}`).",
        f"- Predetermined changes: {_predetermined(use_case)}",
        "- Cybersecurity: the artifact is addressed by its sha256 and its manifest signed with Ed25519; workers "
        "refuse what does not verify; every call is authenticated, authorized by role and scope, and audited.",
        "",
        "Validation on the held-out split:",
        "",
        "| gate | value | limit | passed |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {gate.gate} | {number(gate.value)} | {number(gate.limit)} | {'yes' if gate.passed else 'no'} |"
        for gate in manifest.gates
    ]
    return lines if manifest.gates else [*lines[:-4], "Validation on the held-out split: no gate recorded."]


def _feature(feature: Feature) -> str:
    operands = [feature.source]
    if feature.other is not None:
        operands.append(feature.other)
    if feature.equals is not None:
        operands.append(f"equals {feature.equals}")
    if feature.low is not None and feature.high is not None:
        operands.append(f"in [{feature.low:g}, {feature.high:g}]")
    return f"{feature.name} = {feature.transform}({', '.join(operands)})"


def _predetermined(use_case: UseCaseManifest) -> str:
    promotion = use_case.promotion
    retraining = [
        reason
        for reason, on in (
            ("on a schedule", use_case.model.scheduled_retraining),
            ("on drift", use_case.monitoring.retrain_on_drift),
        )
        if on
    ]
    text = (
        f"a new version serves only through shadow and canary ({promotion.canary_percent:g}% of traffic), judged "
        f"over {promotion.window_minutes:g} minutes and rolled back automatically"
    )
    return text + (f"; retrained {' and '.join(retraining)}." if retraining else ".")


def _functioning(sources: TechnicalSources) -> list[str]:
    manifest, use_case = sources.signed.manifest, sources.use_case
    metrics = manifest.metrics
    lines = [
        f"## {ANNEX_IV[2]}",
        "",
        f"- Accuracy: AUC {metrics.auc:.4f}, precision {metrics.precision:.4f} and recall {metrics.recall:.4f} at the "
        f"threshold, expected calibration error {metrics.calibration_error:.4f}, one-row latency p99 "
        f"{metrics.latency_p99_ms:.2f} ms.",
    ]
    for attribute, groups in sorted(metrics.group_rates.items()):
        rates = ", ".join(
            f"{group} {rate.favorable_rate:.3f} ({rate.rows} rows)" for group, rate in sorted(groups.items())
        )
        lines.append(f"- Favorable-outcome rate by {attribute}: {rates}.")
    risks = use_case.documentation.foreseeable_risks.strip()
    lines.append(f"- Foreseeable unintended outcomes and risks: {risks or 'not declared.'}")
    lines.append(
        f"- Input data: {len(use_case.inputs)} inputs, specified with their types, ranges and marks in the "
        f"instructions for use; {sum(field.pii for field in use_case.inputs)} are personal data, tokenized before "
        f"storage, and {sum(field.protected for field in use_case.inputs)} protected, never model features."
    )
    return lines


def _changes(sources: TechnicalSources) -> list[str]:
    lines = [f"## {ANNEX_IV[5]}", "", "Policy versions:", "", "| version | state | sha256 | proposed by | note |"]
    lines.append("| --- | --- | --- | --- | --- |")
    lines += [
        f"| {entry.version} | {entry.state} | `{entry.digest[:12]}` | {entry.proposed_by} | {entry.note or '-'} |"
        for entry in sources.policies
    ]
    lines += ["", "Traffic, policy and stop-switch changes, from the audit trail:", ""]
    if sources.changes:
        lines += ["| when (UTC) | change | by | what |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {change.at:%Y-%m-%d %H:%M:%S} | {change.action} | {change.principal or '-'} | {change.summary} |"
            for change in sources.changes
        ]
    else:
        lines.append("None recorded.")
    return lines


def _standards(standards: Sequence[str]) -> list[str]:
    if not standards:
        return [f"## {ANNEX_IV[6]}", "", "None declared."]
    return [f"## {ANNEX_IV[6]}", "", *(f"- {standard}" for standard in standards)]


def _text(title: str, text: str) -> list[str]:
    return [f"## {title}", "", text.strip() or "Not declared."]


def _monitoring(use_case: UseCaseManifest) -> list[str]:
    monitoring = use_case.monitoring
    return [
        f"## {ANNEX_IV[8]}",
        "",
        f"- Drift: every hour the last {monitoring.window_hours:g} hours of decisions (at least {monitoring.min_rows}) "
        f"are compared with the training baseline; a feature drifts at a PSI of {monitoring.max_psi:g} with a "
        f"p-value under {monitoring.max_p_value:g}"
        + (", and a drifting champion is retrained" if monitoring.retrain_on_drift else "")
        + ".",
        f"- Bias: disparate impact at least {use_case.gates.min_disparate_impact:g} and an equal-opportunity "
        f"difference at most {monitoring.max_equal_opportunity_difference:g} on live decisions with outcomes.",
        f"- Quality: outcomes recorded with `POST /v1/decisions/{{id}}/outcome` give each version's live accuracy "
        f"(`GET /v1/use-cases/{use_case.name}/quality`); alerts are open at `GET /v1/alerts`.",
    ]
