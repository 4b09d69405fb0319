"""Instructions for use of a use case (EU AI Act Art. 13), generated from what the platform holds.

Each section comes from a source the platform keeps: the purpose and owner from the use case's active policy, the
declared accuracy from the champion's held-out metrics and the gates it passed, the known limits from its gates,
its bias figures and the policy's fallback and review, the input specification from the manifest's contract, the
oversight measures from the review band, the fallback and the stop switch, and where the logs are. A section whose
source is empty is listed as a gap, never filled with a generic sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from contracts.manifest.v1 import InputField, UseCaseManifest
    from contracts.model.v1 import ModelManifest


@dataclass(frozen=True, slots=True)
class GeneratedDocument:
    """A generated document in Markdown, and the sections its sources left empty."""

    markdown: str
    gaps: tuple[str, ...]


def instructions_gaps(use_case: UseCaseManifest, champion: ModelManifest | None) -> list[str]:
    """The sections of the instructions for use that their sources leave empty."""
    gaps = [
        f"{section} is empty"
        for section, value in (
            ("purpose: the manifest's description", use_case.description),
            ("provider: the manifest's owner", use_case.owner),
        )
        if not value.strip()
    ]
    if champion is None:
        gaps.append("declared accuracy: the use case has no champion yet")
    return gaps


def instructions_for_use(
    use_case: UseCaseManifest, *, policy_version: int | None, policy_digest: str, champion: ModelManifest | None
) -> GeneratedDocument:
    """The instructions for use of `use_case` under its active policy, served by `champion` (None before one)."""
    gaps = instructions_gaps(use_case, champion)
    policy = f"version {policy_version}" if policy_version is not None else "from its bootstrap file"
    served = (
        f"model {champion.model_name} {champion.model_version} (sha256 `{champion.artifact_digest}`)"
        if champion is not None
        else "no model yet"
    )
    lines = [
        f"# Instructions for use: {use_case.name}",
        "",
        f"Policy {policy} (sha256 `{policy_digest}`), {served}.",
        "",
        "## 1. Purpose and provider",
        "",
    ]
    for value, shown in (
        (use_case.description, use_case.description.strip()),
        (use_case.owner, f"Owner: {use_case.owner.strip()}."),
    ):
        if value.strip():
            lines += [shown, ""]
    lines += ["## 2. Declared accuracy", ""]
    if champion is not None:
        lines += _accuracy(champion)
    lines += ["## 3. Known limits", ""]
    lines += _limits(use_case, champion)
    lines += ["## 4. Input specification", "", "| field | type | required | range or values | governed as |"]
    lines += ["| --- | --- | --- | --- | --- |", *(_input_row(field) for field in use_case.inputs), ""]
    lines += ["## 5. Human oversight", ""]
    lines += _oversight(use_case)
    lines += [
        "## 6. Logs",
        "",
        "Every decision, worker call, review, policy and model change is one audit event in a hash-chained trail, "
        "kept in the audit store and archived under Object Lock: search it with `GET /v1/audit/events` "
        f"(`use_case={use_case.name}`), export it with `leaim audit export`, and check it with `leaim audit verify`. "
        "A decision is read back with `GET /v1/decisions/{id}`, explained with "
        "`GET /v1/decisions/{id}/explanation`, and recomputed with `POST /v1/decisions/{id}/replay`.",
        "",
    ]
    if gaps:
        lines += ["## Gaps", "", *(f"- {gap}" for gap in gaps), ""]
    return GeneratedDocument("\n".join(line for line in collapse(lines)), tuple(gaps))


def _accuracy(champion: ModelManifest) -> list[str]:
    metrics = champion.metrics
    lines = [
        f"Measured on a held-out split of {metrics.holdout_rows} rows (trained on {metrics.train_rows}), at the "
        f"decision threshold {champion.threshold:g}:",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| AUC | {metrics.auc:.4f} |",
        f"| precision | {metrics.precision:.4f} |",
        f"| recall | {metrics.recall:.4f} |",
        f"| expected calibration error | {metrics.calibration_error:.4f} |",
        f"| Brier score | {metrics.brier:.4f} |",
        f"| scoring latency p99 (one row) | {metrics.latency_p99_ms:.2f} ms |",
        "",
        "The gates it passed before serving:",
        "",
        "| gate | value | limit | passed |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {gate.gate} | {number(gate.value)} | {number(gate.limit)} | {'yes' if gate.passed else 'no'} |"
        for gate in champion.gates
    ]
    return [*lines, ""]


def _limits(use_case: UseCaseManifest, champion: ModelManifest | None) -> list[str]:
    lines = [
        f"- Decisions answer within {use_case.latency_budget_ms} ms; when the model path fails or is late, the answer "
        f"is the fallback outcome `{use_case.fallback.outcome}` ({use_case.fallback.reason})",
        f"- The model sees only its {len(use_case.features)} features "
        f"({', '.join(use_case.feature_names)}); protected attributes are never features.",
    ]
    if use_case.online_features:
        defaults = ", ".join(f"{feature.name}={feature.default}" for feature in use_case.online_features)
        lines.append(f"- An entity the online store does not know yet is scored with defaults: {defaults}.")
    if champion is not None:
        small = [
            f"{attribute}={group} ({rate.rows} rows)"
            for attribute, groups in sorted(champion.metrics.group_rates.items())
            for group, rate in sorted(groups.items())
            if rate.rows < use_case.gates.min_group_rows
        ]
        if small:
            lines.append(
                f"- Groups too small to gate for bias (under {use_case.gates.min_group_rows} held-out rows): "
                f"{', '.join(small)}."
            )
        lines.append(
            f"- Accuracy holds for data like the training snapshot `{champion.lineage.snapshot_id}`; live inputs are "
            f"compared with it hourly, and a feature whose PSI reaches {use_case.monitoring.max_psi:g} is drift."
        )
    return [*lines, ""]


def _oversight(use_case: UseCaseManifest) -> list[str]:
    band = use_case.decision.review_band
    lines = []
    if band is not None:
        lines.append(
            f"- Scores in [{band.low:g}, {band.high:g}) are not decided automatically: the outcome is `{band.outcome}` "
            "and a reviewer decides, with a justification, through `GET /v1/reviews` and `POST /v1/reviews/{id}`."
        )
    else:
        lines.append("- No review band: every scored decision is automatic; rules and the stop switch still apply.")
    lines += [
        f"- Deterministic rules decide first: {', '.join(rule.name for rule in use_case.decision.rules)}."
        if use_case.decision.rules
        else "- No deterministic rules.",
        "- The stop switch sends every decision to the fallback or to review at once, without a deploy: "
        f"`leaim stop {use_case.name} --reason ...` (`POST /v1/use-cases/{use_case.name}/stop`).",
        "- Policy changes need a second principal's approval, and model versions reach traffic only through shadow "
        "and canary with automatic rollback.",
        "",
    ]
    return lines


def _input_row(field: InputField) -> str:
    if field.allowed:
        values = ", ".join(field.allowed)
    elif field.minimum is not None or field.maximum is not None:
        values = f"{number(field.minimum)} to {number(field.maximum)}"
    elif field.max_length is not None:
        values = f"up to {field.max_length} characters"
    else:
        values = "-"
    marks = [mark for mark, on in (("personal data, tokenized", field.pii), ("protected", field.protected)) if on]
    return (
        f"| {field.name} | {field.type} | {'yes' if field.required else 'no'} | {values} | {', '.join(marks) or '-'} |"
    )


def number(value: float | None) -> str:
    """A figure as a document shows it; `-` for none."""
    return "-" if value is None else f"{value:g}"


def collapse(lines: list[str]) -> list[str]:
    """`lines` without runs of blank lines."""
    kept: list[str] = []
    for line in lines:
        if line == "" and kept and kept[-1] == "":
            continue
        kept.append(line)
    return kept
