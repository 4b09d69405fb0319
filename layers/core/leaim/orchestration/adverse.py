"""Principal reasons of an adverse action (ECOA / Regulation B; EU AI Act Art. 86): what a notice states.

A decision whose outcome the manifest names adverse, or that waits for a reviewer who may give one, carries at most
`max_reasons` (four) principal reasons: the factors the model scored that pushed its score toward the adverse
outcome the most, each under the reason code and statement the manifest gives its feature (factors that share a code
count once, by the largest push); or the rule, or the fallback, that decided instead of the model. A factor that
pushed away from the outcome is never a reason for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.decision.v1 import AdverseActionNotice, PrincipalReason
from leaim.exceptions import ConflictError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts.decision.v1 import DecisionResponse
    from contracts.manifest.v1 import AdverseAction, Rule, UseCaseManifest

FALLBACK_CODE = "FALLBACK"


class NoAdverseActionError(ConflictError):
    """A notice asked of a decision that is not an adverse action, or of a use case that gives no notices."""

    code = "no_adverse_action"
    status = 409


def states_reasons(manifest: UseCaseManifest, outcome: str) -> bool:
    """Whether a decision with `outcome` carries principal reasons: an adverse outcome, or the review outcome."""
    adverse = manifest.adverse_action
    if adverse is None:
        return False
    review = manifest.decision.review_band
    return outcome in adverse.outcomes or (review is not None and outcome == review.outcome)


def principal_reasons(
    manifest: UseCaseManifest,
    outcome: str,
    *,
    contributions: Sequence[tuple[str, float]] = (),
    rule: Rule | None = None,
    fallback: bool = False,
) -> list[PrincipalReason] | None:
    """The principal reasons of a decision with `outcome`, or None if it carries none.

    `contributions` are (feature, log-odds contribution) of every feature the model scored; `rule` is the rule that
    decided, `fallback` whether the fallback did.
    """
    adverse = manifest.adverse_action
    if adverse is None or not states_reasons(manifest, outcome):
        return None
    if rule is not None:
        stated = adverse.rules.get(rule.name)
        code, statement = (stated.code, stated.statement) if stated else (rule.name, rule.reason)
        return [PrincipalReason(rank=1, code=code, statement=statement, kind="rule", factor=rule.name)]
    if fallback:
        code, statement = (
            (adverse.fallback.code, adverse.fallback.statement)
            if adverse.fallback
            else (FALLBACK_CODE, manifest.fallback.reason)
        )
        return [PrincipalReason(rank=1, code=code, statement=statement, kind="fallback", factor="fallback")]
    return _scored_reasons(adverse, _direction(manifest, outcome), contributions)


def _direction(manifest: UseCaseManifest, outcome: str) -> float:
    """+1 if a higher score leads to the adverse outcome in question, -1 if a lower one does.

    A review outcome stands for the first adverse outcome a reviewer may give; an adverse outcome the threshold never
    gives (only rules do) is taken as the positive side of the score, where the risk lies.
    """
    adverse = manifest.adverse_action
    target = outcome if adverse is None or outcome in adverse.outcomes else adverse.outcomes[0]
    return -1.0 if target == manifest.decision.negative_outcome else 1.0


def _scored_reasons(
    adverse: AdverseAction, direction: float, contributions: Sequence[tuple[str, float]]
) -> list[PrincipalReason]:
    by_code: dict[str, tuple[float, str]] = {}
    for feature, contribution in contributions:
        push = contribution * direction
        stated = adverse.features.get(feature)
        if stated is None or push <= 0.0:
            continue
        if stated.code not in by_code or push > by_code[stated.code][0]:
            by_code[stated.code] = (push, feature)
    ranked = sorted(by_code.items(), key=lambda item: (-item[1][0], item[0]))[: adverse.max_reasons]
    return [
        PrincipalReason(
            rank=rank,
            code=code,
            statement=adverse.features[feature].statement,
            kind="feature",
            factor=feature,
            contribution=round(push, 6),
        )
        for rank, (code, (push, feature)) in enumerate(ranked, start=1)
    ]


def adverse_action_notice(decision: DecisionResponse, manifest: UseCaseManifest) -> AdverseActionNotice:
    """The notice of `decision` as it stands (a reviewer's outcome once overridden), with the creditor and contact
    of the use case's active policy; NoAdverseActionError if its outcome is not adverse."""
    adverse = manifest.adverse_action
    if adverse is None:
        raise NoAdverseActionError(f"use case {decision.use_case!r} declares no adverse-action notices")
    if decision.outcome not in adverse.outcomes:
        raise NoAdverseActionError(
            f"decision {decision.decision_id!r} is {decision.outcome!r}, not an adverse action "
            f"({', '.join(adverse.outcomes)})"
        )
    if decision.principal_reasons is None:
        raise NoAdverseActionError(f"decision {decision.decision_id!r} was made without principal reasons")
    reviewed = decision.override is not None
    lines = [
        "Notice of adverse action",
        "",
        adverse.creditor,
        "",
        f"Decision {decision.decision_id} of {decision.decided_at:%Y-%m-%d %H:%M} UTC on request "
        f"{decision.request_id}: {decision.outcome}.",
    ]
    if reviewed:
        lines.append("A person reviewed this decision.")
    lines += ["", "The principal reasons for this decision:"]
    lines += [f"{reason.rank}. {reason.statement}" for reason in decision.principal_reasons]
    lines += ["", adverse.contact]
    return AdverseActionNotice(
        decision_id=decision.decision_id,
        request_id=decision.request_id,
        use_case=decision.use_case,
        outcome=decision.outcome,
        decided_at=decision.decided_at,
        reviewed=reviewed,
        creditor=adverse.creditor,
        reasons=decision.principal_reasons,
        contact=adverse.contact,
        text="\n".join(lines),
    )
