from __future__ import annotations

import math

import pytest

from leaim.data.validation import validate_inputs
from leaim.domain.manifests import ManifestCatalog

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


@pytest.mark.parametrize(
    ("changes", "field", "kind"),
    [
        ({"amount": None}, "inputs.amount", "missing"),
        ({"amount": math.inf}, "inputs.amount", "type_error"),
        ({"amount": 2**60}, "inputs.amount", "out_of_range"),
        ({"amount": 100_000.5}, "inputs.amount", "out_of_range"),
        ({"hour_of_day": True}, "inputs.hour_of_day", "type_error"),
        ({"hour_of_day": "9"}, "inputs.hour_of_day", "type_error"),
        ({"card_present": "true"}, "inputs.card_present", "type_error"),
        ({"country": 3}, "inputs.country", "type_error"),
        ({"merchant_category": ["fuel"]}, "inputs.merchant_category", "type_error"),
        ({"cardholder_age_band": "99+"}, "inputs.cardholder_age_band", "not_allowed"),
        ({"cardholder_name": "x" * 129}, "inputs.cardholder_name", "too_long"),
    ],
)
def test_more_problems_by_kind(changes: dict, field: str, kind: str) -> None:
    assert errors_of(**changes) == {field: kind}


def test_messages_are_readable() -> None:
    _, errors = validate_inputs(MANIFEST, {**GOOD, "amount": True, "hour_of_day": 30})
    messages = {error.field: error.message for error in errors}
    assert messages == {"inputs.amount": "must be a number, not boolean", "inputs.hour_of_day": "must be at most 23"}


def test_integers_stay_integers_and_optional_fields_are_kept_when_given() -> None:
    cleaned, errors = validate_inputs(MANIFEST, {**GOOD, "cardholder_name": "Ana", "cardholder_age_band": "26-40"})
    assert errors == []
    assert cleaned["hour_of_day"] == 9 and isinstance(cleaned["hour_of_day"], int)
    assert (cleaned["cardholder_name"], cleaned["cardholder_age_band"]) == ("Ana", "26-40")


def test_an_empty_request_reports_every_required_field() -> None:
    _, errors = validate_inputs(MANIFEST, {})
    required = {f"inputs.{field.name}" for field in MANIFEST.inputs if field.required}
    assert {error.field for error in errors} == required
    assert {error.type for error in errors} == {"missing"}


def test_a_long_unknown_name_is_shortened_and_a_lone_surrogate_is_not_text() -> None:
    _, errors = validate_inputs(MANIFEST, {**GOOD, "x" * 5000: 1, "\ud800": 2, "transaction_id": "t-\udfff"})
    by_field = {error.field: error.type for error in errors}
    assert by_field == {
        f"inputs.{'x' * 63}…": "unknown_field",
        "inputs.\\ud800": "unknown_field",
        "inputs.transaction_id": "type_error",
    }
    # Every error can be written as UTF-8, as stored reasons and answers must be.
    assert all(f"{error.field} {error.message}".encode() for error in errors)
