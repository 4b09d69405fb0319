from __future__ import annotations

import math

import pytest

from leaim.domain.manifests import ManifestCatalog
from leaim.domain.validation import validate_inputs

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")
GOOD = {
    "transaction_id": "t-1",
    "card_id": "c-1",
    "amount": 12,
    "merchant_category": "fuel",
    "country": "FR",
    "hour_of_day": 9,
    "card_present": False,
}


def errors_of(**changes: object) -> dict[str, str]:
    inputs = {**GOOD, **changes}
    _, errors = validate_inputs(MANIFEST, {k: v for k, v in inputs.items() if v is not ...})
    return {error.field: error.type for error in errors}


def test_valid_inputs_are_cleaned_and_ints_become_floats_for_numbers() -> None:
    cleaned, errors = validate_inputs(MANIFEST, GOOD)
    assert errors == []
    assert cleaned["amount"] == 12.0 and isinstance(cleaned["amount"], float)
    assert "cardholder_name" not in cleaned


@pytest.mark.parametrize(
    ("changes", "field", "kind"),
    [
        ({"country": ...}, "inputs.country", "missing"),
        ({"colour": "red"}, "inputs.colour", "unknown_field"),
        ({"amount": "12"}, "inputs.amount", "type_error"),
        ({"amount": True}, "inputs.amount", "type_error"),
        ({"amount": math.nan}, "inputs.amount", "type_error"),
        ({"hour_of_day": 9.0}, "inputs.hour_of_day", "type_error"),
        ({"card_present": 1}, "inputs.card_present", "type_error"),
        ({"amount": 0.0}, "inputs.amount", "out_of_range"),
        ({"hour_of_day": 24}, "inputs.hour_of_day", "out_of_range"),
        ({"country": "XX"}, "inputs.country", "not_allowed"),
        ({"transaction_id": "t" * 65}, "inputs.transaction_id", "too_long"),
    ],
)
def test_each_problem_names_its_field_and_kind(changes: dict, field: str, kind: str) -> None:
    assert errors_of(**changes) == {field: kind}


def test_every_problem_is_reported_at_once() -> None:
    found = errors_of(amount=-1, country="XX", hour_of_day="noon", extra=1)
    assert found == {
        "inputs.amount": "out_of_range",
        "inputs.country": "not_allowed",
        "inputs.hour_of_day": "type_error",
        "inputs.extra": "unknown_field",
    }


def test_optional_fields_may_be_null() -> None:
    assert errors_of(cardholder_name=None, cardholder_age_band=None) == {}
