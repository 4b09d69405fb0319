from __future__ import annotations

import pytest

from leaim.governance.statistics.fairness import BiasThresholds, GroupIndicators, bias_alerts, bias_indicators

THRESHOLDS = BiasThresholds(min_disparate_impact=0.8, max_equal_opportunity_difference=0.1)


def decisions(group: str, rows: int, favorable: int) -> tuple[list[str], list[bool]]:
    """`rows` decisions for `group`, the first `favorable` of them favorable."""
    return [group] * rows, [i < favorable for i in range(rows)]


def combined(*parts: tuple[list[str], list[bool]]) -> tuple[list[str | None], list[bool]]:
    groups: list[str | None] = []
    favorable: list[bool] = []
    for part_groups, part_favorable in parts:
        groups += part_groups
        favorable += part_favorable
    return groups, favorable


def test_a_model_that_rarely_favors_one_group_crosses_the_disparate_impact_threshold() -> None:
    groups, favorable = combined(decisions("PT", 200, 160), decisions("DE", 100, 35))
    result = bias_indicators(groups, favorable, min_group_rows=30)
    assert [(g.group, g.rows, g.favorable_rate) for g in result.groups] == [("DE", 100, 0.35), ("PT", 200, 0.8)]
    assert result.disparate_impact == pytest.approx(0.35 / 0.8)
    assert result.equal_opportunity_difference is None
    [alert] = bias_alerts("country", result, THRESHOLDS)
    assert (alert.attribute, alert.indicator, alert.threshold) == ("country", "disparate_impact", 0.8)
    assert alert.value == pytest.approx(0.4375)
    assert "'DE'" in alert.message and "'PT'" in alert.message


def test_an_unbiased_model_raises_no_alert() -> None:
    groups, favorable = combined(decisions("PT", 200, 160), decisions("DE", 100, 78))
    result = bias_indicators(groups, favorable, min_group_rows=30)
    assert result.disparate_impact == pytest.approx(0.78 / 0.8)
    assert bias_alerts("country", result, THRESHOLDS) == []


def test_small_groups_are_reported_but_not_compared() -> None:
    groups, favorable = combined(decisions("PT", 200, 160), decisions("DE", 100, 78), decisions("LU", 10, 0))
    result = bias_indicators(groups, favorable, min_group_rows=30)
    assert GroupIndicators("LU", 10, 0.0, 0, None) in result.groups
    assert result.disparate_impact == pytest.approx(0.78 / 0.8)
    assert bias_alerts("country", result, THRESHOLDS) == []


def test_with_fewer_than_two_large_groups_nothing_is_measured() -> None:
    groups, favorable = combined(decisions("PT", 200, 160), decisions("DE", 20, 0))
    result = bias_indicators(groups, favorable, min_group_rows=30)
    assert result.disparate_impact is None
    assert bias_alerts("country", result, THRESHOLDS) == []


def test_rows_without_a_group_are_left_out_and_counted() -> None:
    groups, favorable = combined(decisions("PT", 40, 20), decisions("DE", 40, 20))
    result = bias_indicators([*groups, None, None], [*favorable, False, False], min_group_rows=30)
    assert [g.group for g in result.groups] == ["DE", "PT"]
    assert result.ungrouped_rows == 2
    assert result.disparate_impact == 1.0


def test_no_favorable_decision_anywhere_is_no_disparity() -> None:
    groups, favorable = combined(decisions("PT", 40, 0), decisions("DE", 40, 0))
    assert bias_indicators(groups, favorable, min_group_rows=30).disparate_impact == 1.0


def test_equal_opportunity_difference_on_rows_that_deserved_the_favorable_outcome() -> None:
    # PT: 40 rows deserved it (truth favorable) and 36 got it; 20 did not deserve it and got it, and 20
    # have no outcome yet. DE: 40 deserved it and 24 got it. True favorable rates 0.9 and 0.6.
    groups = ["PT"] * 80 + ["DE"] * 40
    favorable = [i < 36 for i in range(40)] + [True] * 20 + [False] * 20 + [i < 24 for i in range(40)]
    truth: list[bool | None] = [True] * 40 + [False] * 20 + [None] * 20 + [True] * 40
    result = bias_indicators(groups, favorable, truth, min_group_rows=30)
    by_group = {g.group: g for g in result.groups}
    assert (by_group["PT"].truth_favorable_rows, by_group["PT"].true_favorable_rate) == (40, 0.9)
    assert (by_group["DE"].truth_favorable_rows, by_group["DE"].true_favorable_rate) == (40, 0.6)
    assert result.equal_opportunity_difference == pytest.approx(0.3)
    alerts = bias_alerts("country", result, THRESHOLDS)
    assert [(a.indicator, round(a.value, 6)) for a in alerts] == [("equal_opportunity_difference", 0.3)]


def test_equal_opportunity_needs_enough_labelled_rows_per_group() -> None:
    groups = ["PT"] * 40 + ["DE"] * 40
    favorable = [True] * 80
    truth: list[bool | None] = [True] * 40 + [True] * 10 + [None] * 30
    result = bias_indicators(groups, favorable, truth, min_group_rows=30)
    assert result.equal_opportunity_difference is None


def test_sequences_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one each per row"):
        bias_indicators(["PT", "DE"], [True], min_group_rows=1)
    with pytest.raises(ValueError, match="one each per row"):
        bias_indicators(["PT"], [True], [True, False], min_group_rows=1)
