"""Bias indicators of one protected attribute under one model version, from decisions and their outcomes.

Per group of the attribute: its rows, the share of them given the favorable decision, and, among its rows
whose ground truth is favorable (the outcome a fair model should grant), the share that got the favorable
decision (equal opportunity's true positive rate). Across groups:

- disparate impact: the lowest favorable decision rate over the highest, among groups with at least
  `min_group_rows` rows (1.0 when no such group got any favorable decision: none was treated better);
- equal opportunity difference: the highest true positive rate minus the lowest, among groups with at
  least `min_group_rows` rows whose truth is favorable.

Each is None when fewer than two groups qualify. Rows without a group value are left out of every group,
as the training evaluation does (`gpu_workers.training.evaluation.group_rates`), and counted in
`ungrouped_rows`: a missing value is not a group a model could favor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence

Indicator = Literal["disparate_impact", "equal_opportunity_difference"]


@dataclass(frozen=True, slots=True)
class GroupIndicators:
    """One group's decisions: how many, how often favorable, and how often favorable when the truth was."""

    group: str
    rows: int
    favorable_rate: float
    truth_favorable_rows: int
    true_favorable_rate: float | None


@dataclass(frozen=True, slots=True)
class BiasResult:
    """The groups of one protected attribute, sorted by name, and the indicators across the large enough ones."""

    groups: list[GroupIndicators]
    min_group_rows: int
    ungrouped_rows: int
    disparate_impact: float | None
    equal_opportunity_difference: float | None


@dataclass(frozen=True, slots=True)
class BiasThresholds:
    """The lowest acceptable disparate impact and the highest acceptable equal opportunity difference."""

    min_disparate_impact: float
    max_equal_opportunity_difference: float


@dataclass(frozen=True, slots=True)
class BiasAlert:
    """An indicator of one protected attribute past its threshold."""

    attribute: str
    indicator: Indicator
    value: float
    threshold: float
    message: str


def bias_indicators(
    groups: Sequence[str | None],
    favorable: Sequence[bool],
    truth_favorable: Sequence[bool | None] | None = None,
    *,
    min_group_rows: int,
) -> BiasResult:
    """Per group and across groups: favorable decision rates, disparate impact and equal opportunity.

    Row i was decided for a member of `groups[i]` (None: unknown, left out); `favorable[i]` says whether
    the decision was the favorable one, `truth_favorable[i]` whether its known outcome was (None: not
    known yet). Without `truth_favorable`, no true positive rate is measured. Raises ValueError when the
    sequences differ in length.
    """
    truths = [None] * len(groups) if truth_favorable is None else truth_favorable
    if not len(groups) == len(favorable) == len(truths):
        raise ValueError(
            f"{len(groups)} group values, {len(favorable)} decisions and {len(truths)} outcomes: one each per row"
        )
    # Per group: rows, favorable decisions, rows with a favorable truth, and those of them decided favorably.
    tallies: dict[str, list[int]] = {}
    ungrouped = 0
    for group, decided, truth in zip(groups, favorable, truths, strict=True):
        if group is None:
            ungrouped += 1
            continue
        tally = tallies.setdefault(group, [0, 0, 0, 0])
        tally[0] += 1
        tally[1] += bool(decided)
        if truth:
            tally[2] += 1
            tally[3] += bool(decided)
    indicators = [
        GroupIndicators(
            group=group,
            rows=rows,
            favorable_rate=granted / rows,
            truth_favorable_rows=deserved,
            true_favorable_rate=granted_deserved / deserved if deserved else None,
        )
        for group, (rows, granted, deserved, granted_deserved) in sorted(tallies.items())
    ]
    rates = [g.favorable_rate for g in indicators if g.rows >= min_group_rows]
    opportunity = [
        g.true_favorable_rate
        for g in indicators
        if g.true_favorable_rate is not None and g.truth_favorable_rows >= min_group_rows
    ]
    return BiasResult(
        groups=indicators,
        min_group_rows=min_group_rows,
        ungrouped_rows=ungrouped,
        disparate_impact=_ratio(min(rates), max(rates)) if len(rates) >= 2 else None,
        equal_opportunity_difference=max(opportunity) - min(opportunity) if len(opportunity) >= 2 else None,
    )


def bias_alerts(attribute: str, result: BiasResult, thresholds: BiasThresholds) -> list[BiasAlert]:
    """The indicators of `result` (for protected attribute `attribute`) past `thresholds`; none when unmeasured."""
    alerts = []
    impact = result.disparate_impact
    if impact is not None and impact < thresholds.min_disparate_impact:
        rates = {g.group: g.favorable_rate for g in result.groups if g.rows >= result.min_group_rows}
        low, high = min(rates, key=rates.__getitem__), max(rates, key=rates.__getitem__)
        alerts.append(
            BiasAlert(
                attribute=attribute,
                indicator="disparate_impact",
                value=impact,
                threshold=thresholds.min_disparate_impact,
                message=(
                    f"{attribute}: disparate impact {impact:.3f} is below {thresholds.min_disparate_impact}: "
                    f"favorable decision rate {rates[low]:.3f} for {low!r} against {rates[high]:.3f} for {high!r}"
                ),
            )
        )
    difference = result.equal_opportunity_difference
    if difference is not None and difference > thresholds.max_equal_opportunity_difference:
        alerts.append(
            BiasAlert(
                attribute=attribute,
                indicator="equal_opportunity_difference",
                value=difference,
                threshold=thresholds.max_equal_opportunity_difference,
                message=(
                    f"{attribute}: equal opportunity difference {difference:.3f} is above "
                    f"{thresholds.max_equal_opportunity_difference}: rows that deserved the favorable outcome "
                    f"got it at rates {_spread(result)}"
                ),
            )
        )
    return alerts


def _ratio(lowest: float, highest: float) -> float:
    # No group got a favorable decision: all were treated alike.
    return lowest / highest if highest > 0 else 1.0


def _spread(result: BiasResult) -> str:
    return ", ".join(
        f"{g.group!r} {g.true_favorable_rate:.3f}"
        for g in result.groups
        if g.true_favorable_rate is not None and g.truth_favorable_rows >= result.min_group_rows
    )
