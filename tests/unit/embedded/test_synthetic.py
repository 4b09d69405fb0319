from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from contracts.manifest.v1 import OnlineFeature
from embedded.synthetic import CardFraudGenerator, LabeledTransaction
from leaim.data.features import feature_matrix
from leaim.data.validation import validate_inputs
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import ConfigurationError

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")


def generate(seed: int, n: int = 4_000, drift: float = 0.0) -> list[LabeledTransaction]:
    generator = CardFraudGenerator(MANIFEST, seed=seed, drift=drift)
    return generator.transactions(n, generator.cards(300))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.fixture(scope="module")
def base() -> list[LabeledTransaction]:
    return generate(seed=5)


def test_the_same_seed_gives_identical_data(base: list[LabeledTransaction]) -> None:
    assert generate(seed=5) == base
    assert generate(seed=6) != base


def test_every_generated_input_is_valid_and_online_features_match_the_manifest(
    base: list[LabeledTransaction],
) -> None:
    online_names = {feature.name for feature in MANIFEST.online_features}
    for record in base:
        cleaned, errors = validate_inputs(MANIFEST, record.inputs)
        assert errors == []
        assert set(cleaned) == {field.name for field in MANIFEST.inputs}
        assert set(record.online) == online_names
        assert record.label in (0, 1)


def test_fraud_rate_is_a_few_percent(base: list[LabeledTransaction]) -> None:
    assert 0.01 < mean([r.label for r in base]) < 0.15


def test_a_logistic_regression_learns_the_ground_truth() -> None:
    records = generate(seed=11, n=12_000)
    features = feature_matrix(MANIFEST, [(r.inputs, r.online) for r in records])
    labels = [r.label for r in records]
    model = LogisticRegression(max_iter=500).fit(features[:8_000], labels[:8_000])
    auc = roc_auc_score(labels[8_000:], model.predict_proba(features[8_000:])[:, 1])
    assert 0.85 <= auc <= 0.97


def test_drift_shifts_amounts_foreign_share_night_and_merchants(base: list[LabeledTransaction]) -> None:
    shifted = generate(seed=5, drift=1.0)
    assert mean([r.inputs["amount"] for r in shifted]) > 1.8 * mean([r.inputs["amount"] for r in base])

    def share(rows: list[LabeledTransaction], test) -> float:
        return mean([1.0 if test(r) else 0.0 for r in rows])

    foreign = lambda r: r.inputs["country"] != r.online["home_country"]  # noqa: E731
    night = lambda r: r.inputs["hour_of_day"] <= 5  # noqa: E731
    digital = lambda r: r.inputs["merchant_category"] == "digital_goods"  # noqa: E731
    assert share(shifted, foreign) > share(base, foreign) + 0.15
    assert share(shifted, night) > share(base, night) + 0.15
    assert share(shifted, digital) > share(base, digital) + 0.08


def test_cards_never_repeat_an_id_within_a_generator() -> None:
    generator = CardFraudGenerator(MANIFEST, seed=1)
    ids = [card.card_id for card in generator.cards(50) + generator.cards(50)]
    assert len(set(ids)) == 100


def test_a_manifest_of_another_shape_is_refused() -> None:
    other = MANIFEST.model_copy(
        update={"online_features": [OnlineFeature(name="avg_amount_30d", type="number", default=1.0)]}
    )
    with pytest.raises(ConfigurationError, match="online features"):
        CardFraudGenerator(other, seed=1)


def test_drift_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="drift"):
        CardFraudGenerator(MANIFEST, seed=1, drift=1.5)
