"""The compliance map of one use case, checked against what the running system holds: evidence or a gap per item.

Each item names the requirement, what answers it and the route or command that shows it. An item is a gap when
its source is missing or empty (no champion, an empty manifest field, an invocation without its audit event) or
when the platform does not build what it asks for; the gaps say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from contracts.governance.v1 import EvidenceItem, UseCaseEvidence
from leaim.governance.evidence.instructions import instructions_gaps
from leaim.governance.evidence.technical import annex_iv_gaps

if TYPE_CHECKING:
    from contracts.manifest.v1 import UseCaseManifest
    from contracts.model.v1 import SignedManifest

UNARCHIVED = "the champion's technical documentation is not archived beside it: `leaim documentation --archive`"
TECHNICAL_DOCUMENTATION = "technical-documentation"
NO_RETENTION = "the manifest declares no retention: its records are kept indefinitely, and never purged"


@dataclass(frozen=True, slots=True)
class EvidenceFacts:
    """What the check reads of one use case over the report's window.

    `champion_problem` says why the champion is not governed (None when it is); the coverages are the window's
    shares of invocations with their audit event (every function's) and of the use case's decisions that can be
    explained, None when there were none; `monitored` is whether the drift and bias monitor has judged it;
    `archived` the kinds of document archived beside the champion (None where the archive is not read).
    """

    use_case: UseCaseManifest
    champion: SignedManifest | None
    champion_problem: str | None
    audit_coverage: float | None
    unaudited: int
    explanation_coverage: float | None
    monitored: bool
    archived: frozenset[str] | None = None


def compliance_evidence(facts: EvidenceFacts) -> UseCaseEvidence:
    """Every item of the compliance map for `facts.use_case`, in the order of `docs/evidence.md`."""
    name = facts.use_case.name
    items = [
        _logs(facts),
        _retention(facts.use_case),
        _item(
            "EU AI Act Art. 13",
            "instructions for use: purpose, accuracy, limits, input specification, oversight",
            f"`leaim instructions {name}`",
            instructions_gaps(facts.use_case, facts.champion.manifest if facts.champion else None),
        ),
        _oversight(facts.use_case),
        _accuracy(facts),
        _item(
            "EU AI Act Annex IV",
            "technical documentation, kept ten years",
            f"`leaim documentation {name}`",
            [*_champion_gaps(facts), *annex_iv_gaps(facts.use_case), *_archive_gaps(facts)],
        ),
        _explanations(facts),
        _notices(facts.use_case),
        _item(
            "AI bill of materials",
            "the components of the AI system: model, data, code, dependencies",
            f"`leaim bom {name}`: CycloneDX 1.6 ML-BOM of the champion",
            _champion_gaps(facts),
        ),
        _item(
            "NIST AI RMF: Measure",
            "metrics, bias and drift measured in operation",
            f"`GET /v1/use-cases/{name}/drift`, `/bias`, `/quality`",
            [] if facts.monitored else ["the drift and bias monitor has not judged the use case yet"],
        ),
        _item(
            "Process KPIs",
            "deployment frequency, lead time, change failure rate, time to recovery, retraining cadence, review rates",
            f"`GET /v1/use-cases/{name}/kpis`, `leaim governance kpis {name}`",
            [],
        ),
    ]
    return UseCaseEvidence(use_case=name, items=items, gaps=sum(item.status == "gap" for item in items))


def _item(anchor: str, requirement: str, evidence: str, gaps: list[str]) -> EvidenceItem:
    return EvidenceItem(
        anchor=anchor, requirement=requirement, status="gap" if gaps else "evidence", evidence=evidence, gaps=gaps
    )


def _archive_gaps(facts: EvidenceFacts) -> list[str]:
    if facts.champion is None or (facts.archived is not None and TECHNICAL_DOCUMENTATION in facts.archived):
        return []
    return [UNARCHIVED]


def _champion_gaps(facts: EvidenceFacts) -> list[str]:
    return [] if facts.champion is not None else ["the use case has no champion yet"]


def _logs(facts: EvidenceFacts) -> EvidenceItem:
    complete = facts.audit_coverage is None or facts.audit_coverage == 1.0
    return _item(
        "EU AI Act Art. 12",
        "automatic logs of events over the system's lifetime",
        f"one hash-chained audit event per invocation: `GET /v1/audit/events?use_case={facts.use_case.name}`, "
        "`leaim audit verify`",
        [] if complete else [f"{facts.unaudited} invocations of the window have no audit event"],
    )


def _oversight(use_case: UseCaseManifest) -> EvidenceItem:
    band = use_case.decision.review_band
    reviews = (
        f"scores in [{band.low:g}, {band.high:g}) go to a reviewer (`GET /v1/reviews`)" if band is not None else None
    )
    return _item(
        "EU AI Act Art. 14",
        "human oversight, including stopping the system into a safe state",
        "; ".join(
            part
            for part in (
                reviews,
                f"the stop switch: `leaim stop {use_case.name}`, `GET /v1/use-cases/{use_case.name}/stop`",
            )
            if part
        ),
        [] if band is not None else ["the policy has no review band: no scored decision reaches a reviewer"],
    )


def _accuracy(facts: EvidenceFacts) -> EvidenceItem:
    gaps = _champion_gaps(facts)
    evidence = "the champion's held-out metrics and gates, signed into its version"
    if facts.champion is not None:
        model = facts.champion.manifest
        evidence = (
            f"{model.model_name} {model.model_version}: AUC {model.metrics.auc:.4f}, {len(model.gates)} gates, signed "
            f"(`GET /v1/models/{model.model_name}/versions/{model.model_version}`)"
        )
        if facts.champion_problem is not None:
            gaps.append(f"the champion {facts.champion_problem}")
    return _item("EU AI Act Art. 15", "declared accuracy and robustness", evidence, gaps)


def _explanations(facts: EvidenceFacts) -> EvidenceItem:
    share = facts.explanation_coverage
    return _item(
        "EU AI Act Art. 86",
        "an explanation of an individual decision",
        "the reasons and scored feature values of every decision: `GET /v1/decisions/{id}/explanation`",
        [] if share is None or share == 1.0 else [f"{1 - share:.1%} of the window's decisions cannot be explained"],
    )


def _retention(use_case: UseCaseManifest) -> EvidenceItem:
    retention = use_case.retention
    evidence = "a retention per use case, purged daily by `AuditPurgeFunction` (`leaim audit purge`)"
    if retention is not None:
        floor = "25 months: credit decisions" if retention.credit else "six months"
        evidence = (
            f"audit events kept {retention.audit_events_days} days, decisions {retention.decisions_days}, inputs "
            f"{retention.inputs}, reasons {retention.explanations} (floor: {floor}); purged daily by "
            f"`AuditPurgeFunction` with a signed receipt that `leaim audit verify` checks; legal holds: "
            f"`GET /v1/use-cases/{use_case.name}/legal-holds`"
        )
    return _item(
        "EU AI Act Art. 19, 26",
        "logs kept at least six months",
        evidence,
        [NO_RETENTION] if retention is None else [],
    )


def _notices(use_case: UseCaseManifest) -> EvidenceItem:
    declared = use_case.adverse_action
    evidence = "principal reasons and notices: `GET /v1/decisions/{id}/notice`"
    if declared is not None:
        evidence = f"notices of {', '.join(declared.outcomes)} decisions, at most {declared.max_reasons} reasons: " + (
            "`GET /v1/decisions/{id}/notice`"
        )
    return _item(
        "US ECOA / Regulation B",
        "adverse action notices stating the specific principal reasons, at most four",
        evidence,
        [] if declared is not None else ["the manifest declares no adverse_action: adverse decisions carry no notice"],
    )
