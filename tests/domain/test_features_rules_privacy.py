from __future__ import annotations

import math

import pytest

from contracts.manifest.v1 import Condition, DecisionPolicy, ReviewBand, Rule
from leaim.data.synthetic import CardFraudGenerator
from leaim.domain.features import feature_matrix, feature_vector, merge_online
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.privacy import minimize
from leaim.domain.rules import feature_reasons, match_rule, outcome_for_score
from leaim.domain.validation import validate_inputs
from leaim.exceptions import ConfigurationError

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")
INPUTS = {
    "transaction_id": "t-1",
    "card_id": "c-1",
    "amount": 99.0,
    "merchant_category": "digital_goods",
    "country": "US",
    "hour_of_day": 3,
    "card_present": False,
    "cardholder_name": "Ana Costa",
}


def test_each_transform_on_hand_computed_values() -> None:
    online = {"avg_amount_30d": 32.0, "txn_count_24h": 4, "home_country": "DE"}
    vector = dict(zip(MANIFEST.feature_names, feature_vector(MANIFEST, INPUTS, online), strict=True))
    assert vector == {
        "log_amount": pytest.approx(math.log1p(99.0)),
        "amount_to_avg": pytest.approx(99.0 / 33.0),
        "txn_count_24h": 4.0,
        "foreign": 1.0,
        "night": 1.0,
        "card_not_present": 1.0,
        "risky_merchant": 1.0,
        "gambling": 0.0,
    }
    home = dict(
        zip(
            MANIFEST.feature_names,
            feature_vector(MANIFEST, {**INPUTS, "country": "DE", "hour_of_day": 6, "card_present": True}, online),
            strict=True,
        )
    )
    assert (home["foreign"], home["night"], home["card_not_present"]) == (0.0, 0.0, 0.0)


def test_online_defaults_fill_what_the_store_lacks() -> None:
    assert merge_online(MANIFEST, None) == {"avg_amount_30d": 60.0, "txn_count_24h": 0, "home_country": "OTHER"}
    assert merge_online(MANIFEST, {"txn_count_24h": 9, "stale": 1})["txn_count_24h"] == 9


def test_training_matrix_equals_serving_vectors_record_by_record() -> None:
    generator = CardFraudGenerator(MANIFEST, seed=3)
    records = generator.transactions(300, generator.cards(40))
    matrix = feature_matrix(MANIFEST, [(r.inputs, r.online) for r in records])
    for row, record in zip(matrix, records, strict=True):
        assert row == feature_vector(MANIFEST, record.inputs, merge_online(MANIFEST, record.online))


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


def test_first_matching_rule_wins_and_missing_fields_never_match() -> None:
    assert match_rule(POLICY, {"country": "KP", "amount": 500})
    assert match_rule(POLICY, {"country": "KP", "amount": 500}).name == "first"
    assert match_rule(POLICY, {"country": "US", "amount": 500}).name == "second"
    assert match_rule(POLICY, {"country": "DE", "amount": 500}).name == "third"
    assert match_rule(POLICY, {"country": "DE", "amount": 10}) is None
    assert match_rule(POLICY, {"country": "US"}) is None


@pytest.mark.parametrize(
    ("score", "outcome", "review"),
    [
        (0.0, "approved", False),
        (0.2999, "approved", False),
        (0.3, "review", True),
        (0.4999, "review", True),
        (0.5, "declined", False),
        (1.0, "declined", False),
    ],
)
def test_band_and_threshold_boundaries(score: float, outcome: str, review: bool) -> None:
    decided, reason, needs_review = outcome_for_score(POLICY, score)
    assert (decided, needs_review, reason.kind) == (outcome, review, "threshold")


def test_feature_reasons_read_well() -> None:
    (reason,) = feature_reasons([("amount_to_avg", 7.2, 1.84)])
    assert reason.message == "amount_to_avg=7.2 raised the risk (+1.84 log-odds)"
    assert (reason.feature, reason.contribution) == ("amount_to_avg", 1.84)


def test_pii_tokens_are_keyed_deterministic_and_hide_the_clear_text() -> None:
    key = b"k" * 32
    first, again = minimize(MANIFEST, INPUTS, key), minimize(MANIFEST, INPUTS, key)
    other = minimize(MANIFEST, INPUTS, b"o" * 32)
    assert first == again
    assert first["card_id"] != other["card_id"]
    assert first["card_id"].startswith("tok_") and "Ana" not in str(first) and "c-1" not in first.values()
    assert first["amount"] == 99.0
    with pytest.raises(ConfigurationError):
        minimize(MANIFEST, INPUTS, b"short")


def test_generator_is_deterministic_valid_and_drift_moves_the_distributions() -> None:
    base = CardFraudGenerator(MANIFEST, seed=5)
    records = base.transactions(4_000, base.cards(300))
    again = CardFraudGenerator(MANIFEST, seed=5)
    assert again.transactions(4_000, again.cards(300)) == records
    assert all(validate_inputs(MANIFEST, r.inputs)[1] == [] for r in records)
    fraud_rate = sum(r.label for r in records) / len(records)
    assert 0.01 < fraud_rate < 0.15
    drifted = CardFraudGenerator(MANIFEST, seed=5, drift=1.0)
    shifted = drifted.transactions(4_000, drifted.cards(300))

    def mean(rows, key):
        return sum(key(r) for r in rows) / len(rows)

    assert mean(shifted, lambda r: r.inputs["amount"]) > 1.8 * mean(records, lambda r: r.inputs["amount"])
    foreign = lambda r: r.inputs["country"] != r.online["home_country"]  # noqa: E731
    assert mean(shifted, foreign) > mean(records, foreign) + 0.15
