"""Feature-level access: which fields each manifest and dataset contract marks, and what each role reads of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.decision.v1 import DecisionResponse, Reason
from contracts.governance.v1 import Explanation
from leaim.data.datasets import DatasetCatalog
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.access.masking import (
    MASK,
    FieldMarks,
    catalog_marks,
    dataset_marks,
    input_marks,
    mask,
    masked_decision,
    masked_explanation,
)
from leaim.governance.access.policy import FIELD_GRANTS, FieldClass, sees_field
from leaim.governance.ports import Principal

CATALOG = ManifestCatalog.from_directory(None)
CARD_FRAUD = CATALOG.get("card_fraud")
# card_fraud with its country marked PII: the feature `foreign` (country against home_country) is computed from it.
COUNTRY_PII = CARD_FRAUD.model_copy(
    update={
        "inputs": [
            spec.model_copy(update={"pii": True}) if spec.name == "country" else spec for spec in CARD_FRAUD.inputs
        ]
    }
)
REVIEWER = Principal("risk-analyst", "reviewer")
AUDITOR = Principal("audit-team", "auditor")
STEWARD = Principal("data-office", "data_steward")
PII = frozenset({FieldClass.PII})
PROTECTED = frozenset({FieldClass.PROTECTED})


def test_the_reference_manifest_marks_the_card_and_the_name_pii_and_the_age_band_protected() -> None:
    marks = input_marks(CARD_FRAUD)

    assert dict(marks.fields) == {"card_id": PII, "cardholder_name": PII, "cardholder_age_band": PROTECTED}
    # No feature of card_fraud reads a marked input.
    assert dict(marks.features) == {}


def test_a_feature_computed_from_a_marked_input_is_marked_as_that_input() -> None:
    marks = input_marks(COUNTRY_PII)

    assert dict(marks.features) == {"foreign": PII}
    assert marks.hidden_features(AUDITOR) == {"foreign"}


def test_the_auditor_alone_sees_protected_attributes_and_no_role_sees_pii() -> None:
    roles = ("decision_client", "reviewer", "auditor", "ml_engineer", "data_producer", "data_steward")

    assert [role for role in roles if sees_field(role, [FieldClass.PROTECTED])] == ["auditor"]
    assert [role for role in roles if sees_field(role, [FieldClass.PII])] == []
    assert not sees_field("auditor", [FieldClass.PII, FieldClass.PROTECTED])
    assert sees_field("anyone", [])


def test_a_dataset_marks_its_own_pii_fields_and_those_its_use_case_marks() -> None:
    datasets = DatasetCatalog.from_directory(CATALOG)

    marks = dataset_marks(datasets.latest("transactions"), CARD_FRAUD)

    # device_id is PII in the dataset alone; the age band is protected by the manifest alone.
    assert dict(marks.fields) == {
        "card_id": PII,
        "cardholder_name": PII,
        "device_id": PII,
        "cardholder_age_band": PROTECTED,
    }


def test_mask_replaces_every_hidden_value_at_any_depth_and_keeps_nulls() -> None:
    document = {
        "card_id": "tok_0123",
        "amount": 12.5,
        "cardholder_name": None,
        "cardholder_age_band": "26-40",
        "nested": [{"card_id": 42, "country": "DE"}],
    }

    for_reviewer = mask(document, input_marks(CARD_FRAUD), REVIEWER)
    for_auditor = mask(document, input_marks(CARD_FRAUD), AUDITOR)

    assert for_reviewer == {
        "card_id": MASK,
        "amount": 12.5,
        "cardholder_name": None,
        "cardholder_age_band": MASK,
        "nested": [{"card_id": MASK, "country": "DE"}],
    }
    assert for_auditor == {**for_reviewer, "cardholder_age_band": "26-40"}
    assert document["card_id"] == "tok_0123"


def test_the_marks_of_every_use_case_are_their_union() -> None:
    two = ManifestCatalog({"card_fraud": CARD_FRAUD, "other": COUNTRY_PII.model_copy(update={"name": "other"})})

    marks = catalog_marks(two)

    assert marks.hidden(STEWARD) == {"card_id", "cardholder_name", "cardholder_age_band", "country"}
    assert (FieldMarks({"a": PII}) | FieldMarks({"a": PROTECTED})).fields == {"a": PII | PROTECTED}


def _reasons() -> list[Reason]:
    return [
        Reason(kind="feature", code="foreign", message="foreign=1 raised the risk (+1.60 log-odds)", feature="foreign",
               value=1.0, contribution=1.6),
        Reason(kind="feature", code="night", message="night=1 raised the risk (+1.20 log-odds)", feature="night",
               value=1.0, contribution=1.2),
        Reason(kind="threshold", code="review_band", message="in the review band", value=0.3),
    ]  # fmt: skip


def test_an_explanation_leaves_out_a_hidden_feature_and_its_reason_keeps_no_value() -> None:
    explanation = Explanation(
        decision_id="d-1",
        use_case="card_fraud",
        outcome="review",
        final_outcome="review",
        score=0.3,
        threshold=0.4,
        model=None,
        fallback=False,
        reasons=_reasons(),
        features={"foreign": 1.0, "night": 1.0},
        decided_at=datetime(2025, 1, 1, tzinfo=UTC),
    )

    masked = masked_explanation(explanation, COUNTRY_PII, AUDITOR)
    shown = masked_explanation(explanation, CARD_FRAUD, AUDITOR)

    assert masked.features == {"night": 1.0}
    assert masked.masked_features == ["foreign"]
    foreign, night, threshold = masked.reasons
    assert (foreign.code, foreign.message) == ("foreign", f"foreign={MASK}")
    assert (foreign.value, foreign.contribution) == (None, None)
    assert (night, threshold) == tuple(explanation.reasons[1:])
    assert shown == explanation


@pytest.mark.parametrize("role", ["reviewer", "auditor", "decision_client"])
def test_a_decision_read_hides_the_reasons_of_hidden_features(role: str) -> None:
    decision = DecisionResponse(
        decision_id="d-1",
        request_id="r-1",
        use_case="card_fraud",
        outcome="review",
        score=0.3,
        reasons=_reasons(),
        model=None,
        fallback=False,
        review_required=True,
        trace_id="t",
        decided_at=datetime(2025, 1, 1, tzinfo=UTC),
        latency_ms=3.0,
    )

    masked = masked_decision(decision, COUNTRY_PII, Principal("someone", role))

    assert [reason.value for reason in masked.reasons] == [None, 1.0, 0.3]
    assert masked_decision(decision, CARD_FRAUD, Principal("someone", role)) == decision


def test_granting_a_class_to_a_role_shows_it_that_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FIELD_GRANTS, FieldClass.PII, frozenset({"reviewer"}))

    assert input_marks(CARD_FRAUD).hidden(REVIEWER) == {"cardholder_age_band"}
    assert input_marks(COUNTRY_PII).hidden_features(REVIEWER) == frozenset()
