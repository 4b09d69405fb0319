"""Deterministic business rules and score thresholds: how a score becomes an outcome, with its reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.decision.v1 import Reason, StopNotice

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from contracts.manifest.v1 import Condition, DecisionPolicy, Rule, UseCaseManifest


def _same(left: object, right: object) -> bool:
    # A boolean field never equals a number: `card_present eq 1` is a manifest mistake, not a match.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return left == right


def _among(value: object, expected: object) -> bool:
    return isinstance(expected, list) and any(_same(value, item) for item in expected)


def _holds(condition: Condition, fields: Mapping[str, object]) -> bool:
    if condition.field not in fields or fields[condition.field] is None:
        return False
    value = fields[condition.field]
    expected = condition.value
    match condition.op:
        case "eq":
            return _same(value, expected)
        case "ne":
            return not _same(value, expected)
        case "in":
            return _among(value, expected)
        case "not_in":
            return isinstance(expected, list) and not _among(value, expected)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return False
    match condition.op:
        case "gt":
            return value > expected
        case "ge":
            return value >= expected
        case "lt":
            return value < expected
        case "le":
            return value <= expected
    return False


def match_rule(policy: DecisionPolicy, fields: Mapping[str, object]) -> Rule | None:
    """The first rule, in manifest order, whose conditions all hold; None when none does.

    `in` and `not_in` take a list of values; ordering comparisons hold only between two numbers; a
    condition on a field that is absent or null never holds, whatever its operator.
    """
    for rule in policy.rules:
        if all(_holds(condition, fields) for condition in rule.when):
            return rule
    return None


def rule_reason(rule: Rule) -> Reason:
    """The reason a rule gives for its outcome."""
    return Reason(kind="rule", code=rule.name, message=rule.reason)


def outcome_for_score(policy: DecisionPolicy, score: float) -> tuple[str, Reason, bool]:
    """Outcome, threshold reason and whether a person must review, for a model score.

    A score in the review band [low, high) gets the band's outcome and needs review; otherwise a
    score at or above the threshold gets the positive outcome and any lower score the negative one.
    """
    band = policy.review_band
    if band is not None and band.low <= score < band.high:
        message = f"score {score:.3f} is in the review band [{band.low:g}, {band.high:g})"
        return band.outcome, Reason(kind="threshold", code="review_band", message=message, value=score), True
    if score >= policy.threshold:
        message = f"score {score:.3f} is at or above the threshold {policy.threshold:g}"
        return (
            policy.positive_outcome,
            Reason(kind="threshold", code="above_threshold", message=message, value=score),
            False,
        )
    message = f"score {score:.3f} is below the threshold {policy.threshold:g}"
    return (
        policy.negative_outcome,
        Reason(kind="threshold", code="below_threshold", message=message, value=score),
        False,
    )


def feature_reasons(contributions: Iterable[tuple[str, float, float]]) -> list[Reason]:
    """Feature contributions (feature, value, log-odds contribution) as readable reasons, in the order given.

    Example message: "amount_to_avg=7.2 raised the risk (+1.84 log-odds)".
    """
    reasons: list[Reason] = []
    for feature, value, contribution in contributions:
        direction = "raised" if contribution >= 0 else "lowered"
        reasons.append(
            Reason(
                kind="feature",
                code=feature,
                message=f"{feature}={value:g} {direction} the risk ({contribution:+.2f} log-odds)",
                feature=feature,
                value=value,
                contribution=contribution,
            )
        )
    return reasons


def stop_reason(stopped: StopNotice) -> Reason:
    """Why a stopped use case's decision took no model or rule into account."""
    where = "human review" if stopped.mode == "review" else "its fallback"
    return Reason(kind="fallback", code="use_case_stopped", message=f"use case stopped into {where}: {stopped.reason}")


def policy_outcome(manifest: UseCaseManifest, fields: Mapping[str, object], score: float | None) -> str:
    """The outcome a manifest's policy gives: its first matching rule, else its fallback without a score, else the
    outcome of the score under its threshold and review band."""
    rule = match_rule(manifest.decision, fields)
    if rule is not None:
        return rule.outcome
    if score is None:
        return manifest.fallback.outcome
    return outcome_for_score(manifest.decision, score)[0]
