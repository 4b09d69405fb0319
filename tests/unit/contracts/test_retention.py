"""Retention settings: no period below its floor, and no part of a decision kept past the decision."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.manifest.v1 import CREDIT_FLOOR_DAYS, LOG_FLOOR_DAYS, Retention


def test_unset_inputs_and_reasons_are_kept_as_long_as_the_decision() -> None:
    retention = Retention(audit_events_days=400, decisions_days=300)

    assert (retention.inputs, retention.explanations, retention.floor_days) == (300, 300, LOG_FLOOR_DAYS)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"audit_events_days": 90, "decisions_days": 90}, "audit_events_days is 90, below the floor of 183 days"),
        ({"audit_events_days": 400, "decisions_days": 300, "inputs_days": 30}, "inputs_days is 30, below the floor"),
        (
            {"credit": True, "audit_events_days": 800, "decisions_days": 730},
            "decisions_days is 730, below the floor of 762 days (a credit decision's records are kept at least 762",
        ),
        ({"audit_events_days": 200, "decisions_days": 300}, "decisions_days (300) exceeds audit_events_days (200)"),
        (
            {"audit_events_days": 400, "decisions_days": 300, "explanations_days": 350},
            "explanations_days (350) exceeds decisions_days (300)",
        ),
    ],
)
def test_a_period_below_its_floor_or_outliving_what_it_belongs_to_is_refused_naming_it(
    settings: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Retention.model_validate(settings)


def test_credit_decisions_are_kept_at_least_25_months() -> None:
    assert Retention(credit=True, audit_events_days=762, decisions_days=762).floor_days == CREDIT_FLOOR_DAYS == 762
