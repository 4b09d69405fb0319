from __future__ import annotations

import math

import pytest

from contracts.manifest.v1 import Feature
from embedded.synthetic import CardFraudGenerator
from leaim.data.features import feature_matrix, feature_vector, merge_online, online_defaults
from leaim.domain.manifests import ManifestCatalog

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
ONLINE = {"avg_amount_30d": 32.0, "txn_count_24h": 4, "home_country": "DE"}


def features_of(inputs: dict, online: dict = ONLINE) -> dict[str, float]:
    return dict(zip(MANIFEST.feature_names, feature_vector(MANIFEST, inputs, online), strict=True))


def with_features(*features: Feature):
    return MANIFEST.model_copy(update={"features": list(features)})


def test_each_transform_on_hand_computed_values() -> None:
    assert features_of(INPUTS) == {
        "log_amount": pytest.approx(math.log1p(99.0)),
        "amount_to_avg": pytest.approx(99.0 / 33.0),
        "txn_count_24h": 4.0,
        "foreign": 1.0,
        "night": 1.0,
        "card_not_present": 1.0,
        "risky_merchant": 1.0,
        "gambling": 0.0,
    }
    home = features_of(
        {**INPUTS, "country": "DE", "hour_of_day": 6, "card_present": True, "merchant_category": "gambling"}
    )
    assert (home["foreign"], home["night"], home["card_not_present"], home["risky_merchant"], home["gambling"]) == (
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
    )


def test_the_vector_follows_the_manifest_feature_order() -> None:
    vector = feature_vector(MANIFEST, INPUTS, ONLINE)
    assert len(vector) == len(MANIFEST.feature_names)
    assert all(isinstance(value, float) for value in vector)
    assert vector[MANIFEST.feature_names.index("txn_count_24h")] == 4.0


def test_ratio_smoothing_keeps_a_new_entity_finite() -> None:
    assert features_of(INPUTS, {**ONLINE, "avg_amount_30d": 0.0})["amount_to_avg"] == 99.0


@pytest.mark.parametrize(("hour", "night"), [(0, 1.0), (5, 1.0), (6, 0.0), (23, 0.0)])
def test_in_range_includes_both_bounds(hour: int, night: float) -> None:
    assert features_of({**INPUTS, "hour_of_day": hour})["night"] == night


def test_log1p_counts_negative_values_as_zero() -> None:
    manifest = with_features(Feature(name="log_amount", transform="log1p", source="amount"))
    assert feature_vector(manifest, {"amount": -5.0}, ONLINE) == [0.0]


def test_a_boolean_indicator_never_fires_on_a_number() -> None:
    manifest = with_features(
        Feature(name="card_not_present", transform="indicator", source="card_present", equals=False)
    )
    assert feature_vector(manifest, {"card_present": False}, ONLINE) == [1.0]
    assert feature_vector(manifest, {"card_present": 0}, ONLINE) == [0.0]


def test_a_numeric_transform_of_a_missing_value_names_the_feature() -> None:
    with pytest.raises(ValueError, match="log_amount"):
        feature_vector(MANIFEST, {**INPUTS, "amount": None}, ONLINE)


def test_online_defaults_fill_what_the_store_lacks() -> None:
    assert online_defaults(MANIFEST) == {"avg_amount_30d": 60.0, "txn_count_24h": 0, "home_country": "OTHER"}
    assert merge_online(MANIFEST, None) == online_defaults(MANIFEST)
    merged = merge_online(MANIFEST, {"txn_count_24h": 9, "home_country": None, "stale": 1})
    assert merged == {"avg_amount_30d": 60.0, "txn_count_24h": 9, "home_country": "OTHER"}


def test_training_matrix_equals_serving_vectors_record_by_record() -> None:
    generator = CardFraudGenerator(MANIFEST, seed=3)
    records = generator.transactions(300, generator.cards(40))
    matrix = feature_matrix(MANIFEST, [(r.inputs, r.online) for r in records])
    assert len(matrix) == len(records)
    for row, record in zip(matrix, records, strict=True):
        assert row == feature_vector(MANIFEST, record.inputs, merge_online(MANIFEST, record.online))


def test_training_rows_of_an_unknown_entity_use_the_serving_defaults() -> None:
    (row,) = feature_matrix(MANIFEST, [(INPUTS, {})])
    assert row == feature_vector(MANIFEST, INPUTS, merge_online(MANIFEST, None))
    assert row[MANIFEST.feature_names.index("amount_to_avg")] == pytest.approx(99.0 / 61.0)
