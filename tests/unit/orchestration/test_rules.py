from __future__ import annotations

import pytest

from contracts.manifest.v1 import Condition, DecisionPolicy, ReviewBand, Rule
from leaim.orchestration.rules import feature_reasons, match_rule, outcome_for_score, rule_reason

POLICY = DecisionPolicy(
    outcomes=["approved", "declined", "review"],
    threshold=0.5,
    positive_outcome="declined",
    negative_outcome="approved",
    review_band=ReviewBand(low=0.3, high=0.5, outcome="review"),
    rules=[
        Rule(name="first", when=[Condition(field="country", op="in", value=["KP"])], outcome="declined", reason="a"),
        Rule(
            name="second",
            when=[Condition(field="amount", op="gt", value=100), Condition(field="country", op="not_in", value=["DE"])],
            outcome="review",
            reason="b",
        ),
        Rule(name="third", when=[Condition(field="amount", op="gt", value=50)], outcome="declined", reason="c"),
    ],
)


def one_rule(op: str, value: object, field: str = "x") -> DecisionPolicy:
    rule = Rule(name="only", when=[Condition(field=field, op=op, value=value)], outcome="declined", reason="r")
    return POLICY.model_copy(update={"rules": [rule]})


def test_first_matching_rule_wins() -> None:
    assert match_rule(POLICY, {"country": "KP", "amount": 500}).name == "first"
    assert match_rule(POLICY, {"country": "US", "amount": 500}).name == "second"
    assert match_rule(POLICY, {"country": "DE", "amount": 500}).name == "third"
    assert match_rule(POLICY, {"country": "DE", "amount": 10}) is None


def test_comparisons_against_a_missing_field_never_hold() -> None:
    assert match_rule(POLICY, {"country": "US"}) is None
    for op in ("eq", "ne", "gt", "ge", "lt", "le"):
        assert match_rule(one_rule(op, 1), {}) is None
        assert match_rule(one_rule(op, 1), {"x": None}) is None
    assert match_rule(one_rule("not_in", ["a"]), {}) is None


@pytest.mark.parametrize(
    ("op", "value", "field_value", "holds"),
    [
        ("eq", "a", "a", True),
        ("eq", "a", "b", False),
        ("ne", "a", "b", True),
        ("ne", "a", "a", False),
        ("eq", True, 1, False),
        ("eq", 1, 1.0, True),
        ("gt", 10, 10, False),
        ("ge", 10, 10, True),
        ("lt", 10, 9.5, True),
        ("le", 10, 10.5, False),
        ("gt", 10, "11", False),
        ("gt", 0, True, False),
        ("in", ["KP", "IR"], "IR", True),
        ("in", ["KP", "IR"], "DE", False),
        ("not_in", ["KP", "IR"], "DE", True),
        ("not_in", ["KP", "IR"], "KP", False),
        ("in", [1, 2], True, False),
    ],
)
def test_operators(op: str, value: object, field_value: object, holds: bool) -> None:
    assert (match_rule(one_rule(op, value), {"x": field_value}) is not None) is holds


def test_rule_reason_carries_the_rule_name_and_text() -> None:
    reason = rule_reason(POLICY.rules[0])
    assert (reason.kind, reason.code, reason.message) == ("rule", "first", "a")


@pytest.mark.parametrize(
    ("score", "outcome", "review", "code"),
    [
        (0.0, "approved", False, "below_threshold"),
        (0.2999, "approved", False, "below_threshold"),
        (0.3, "review", True, "review_band"),
        (0.4999, "review", True, "review_band"),
        (0.5, "declined", False, "above_threshold"),
        (1.0, "declined", False, "above_threshold"),
    ],
)
def test_band_and_threshold_boundaries(score: float, outcome: str, review: bool, code: str) -> None:
    decided, reason, needs_review = outcome_for_score(POLICY, score)
    assert (decided, needs_review, reason.kind, reason.code, reason.value) == (
        outcome,
        review,
        "threshold",
        code,
        score,
    )


def test_threshold_reasons_state_the_score_and_the_bound() -> None:
    assert outcome_for_score(POLICY, 0.42)[1].message == "score 0.420 is in the review band [0.3, 0.5)"
    assert outcome_for_score(POLICY, 0.9)[1].message == "score 0.900 is at or above the threshold 0.5"
    assert outcome_for_score(POLICY, 0.1)[1].message == "score 0.100 is below the threshold 0.5"


def test_without_a_review_band_the_threshold_alone_decides() -> None:
    policy = POLICY.model_copy(update={"review_band": None})
    assert outcome_for_score(policy, 0.4)[:1] == ("approved",)
    assert outcome_for_score(policy, 0.4)[2] is False


def test_feature_reasons_read_well() -> None:
    raised, lowered = feature_reasons([("amount_to_avg", 7.2, 1.84), ("txn_count_24h", 0.0, -0.25)])
    assert raised.message == "amount_to_avg=7.2 raised the risk (+1.84 log-odds)"
    assert (raised.kind, raised.code, raised.feature, raised.value, raised.contribution) == (
        "feature",
        "amount_to_avg",
        "amount_to_avg",
        7.2,
        1.84,
    )
    assert lowered.message == "txn_count_24h=0 lowered the risk (-0.25 log-odds)"
