from __future__ import annotations

import math

import numpy as np
import pytest

from contracts.training.v2 import Baseline, Histogram
from gpu_workers.training.evaluation import baseline as training_baseline
from gpu_workers.training.evaluation import histogram, quantile_edges
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.statistics.drift import (
    DriftThresholds,
    bin_counts,
    categorical_features,
    chi_square_sf,
    chi_square_test,
    kolmogorov_sf,
    ks_test,
    measure_drift,
    psi,
)

NAMES = ["amount", "ratio", "foreign", "night"]
CATEGORICAL = frozenset({"foreign", "night"})
THRESHOLDS = DriftThresholds(min_rows=200, max_psi=0.2, max_p_value=0.01)


def sample(rows: int, seed: int, *, amount_shift: float = 0.0, night_rate: float = 0.3) -> np.ndarray:
    """Rows like the training data: two numeric features and two 0/1 ones."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.normal(50.0 + amount_shift, 10.0, rows),
            rng.lognormal(0.0, 0.5, rows),
            (rng.random(rows) < 0.4).astype(np.float64),
            (rng.random(rows) < night_rate).astype(np.float64),
        ]
    )


def scores(rows: int, seed: int, *, a: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).beta(a, 5.0, rows)


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    """Built by the training worker's own evaluation code, as every model version's baseline is."""
    return training_baseline(NAMES, sample(20_000, seed=1), scores(4_000, seed=2))


def test_live_values_are_binned_exactly_as_the_training_histograms() -> None:
    rng = np.random.default_rng(5)
    columns = {
        "continuous": rng.normal(size=5_000),
        "binary": (rng.random(5_000) < 0.3).astype(np.float64),
        "few_values": rng.integers(0, 4, 5_000).astype(np.float64),
        "constant": np.full(5_000, 7.0),
    }
    for name, values in columns.items():
        expected = histogram(values, quantile_edges(values))
        assert bin_counts(values, expected.edges).tolist() == expected.counts, name
    # Values outside the training range fall in the open-ended first and last bins; an edge opens its bin.
    assert bin_counts(np.array([-100.0, 0.0, 0.5, 1.0, 2.0, 100.0]), [0.0, 1.0, 2.0, 3.0]).tolist() == [3, 1, 2]


def test_a_histogram_with_many_edges_is_binned_like_searchsorted() -> None:
    values = np.random.default_rng(6).normal(size=10_000)
    edges = np.linspace(-3.0, 3.0, 61).tolist()
    expected = np.bincount(np.searchsorted(edges[1:-1], values, side="right"), minlength=60)
    assert bin_counts(values, edges).tolist() == expected.tolist()


def test_psi_against_a_hand_computation() -> None:
    base = np.array([50, 30, 20])
    live = np.array([40, 30, 30])
    assert psi(base, live) == pytest.approx((0.4 - 0.5) * math.log(0.4 / 0.5) + (0.3 - 0.2) * math.log(0.3 / 0.2))
    assert psi(base, base * 3) == pytest.approx(0.0)


def test_psi_floors_an_empty_bin_at_the_epsilon() -> None:
    value = psi(np.array([50, 50]), np.array([100, 0]))
    assert value == pytest.approx((1.0 - 0.5) * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5))


@pytest.mark.parametrize(
    ("z", "expected"),
    # scipy.stats.kstwobign.sf(z), scipy 1.17.1.
    [
        (0.05, 1.0),
        (0.2, 0.999999999999495),
        (0.5, 0.9639452436648751),
        (1.0, 0.26999967167735456),
        (1.17, 0.12939004218561884),
        (1.18, 0.1234538094297657),
        (1.5, 0.022217962616525127),
        (2.0, 0.0006709252557796953),
        (3.0, 3.045995948942526e-08),
    ],
)
def test_kolmogorov_tail_matches_scipy(z: float, expected: float) -> None:
    assert kolmogorov_sf(z) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_kolmogorov_tail_at_zero_is_one() -> None:
    assert kolmogorov_sf(0.0) == 1.0


def test_ks_on_lossless_bins_matches_scipy() -> None:
    # Integer samples with one bin per value (edges [0, 1, ..., 9, 9]) lose nothing to binning, so D is the
    # two-sample statistic of scipy.stats.ks_2samp on the raw samples: 0.06. The p-value is scipy's
    # kstwobign.sf(sqrt(2000 * 500 / 2500) * 0.06) (scipy 1.17.1).
    base = np.array([199, 228, 187, 206, 208, 194, 220, 187, 183, 188])
    live = np.array([40, 45, 58, 38, 46, 60, 52, 43, 53, 65])
    statistic, p_value = ks_test(base, live)
    assert statistic == pytest.approx(0.06)
    assert p_value == pytest.approx(0.11224966667072497, rel=1e-9)


@pytest.mark.parametrize(
    ("statistic", "df", "expected"),
    # scipy.stats.chi2.sf(statistic, df), scipy 1.17.1: both the series (x < a + 1) and the fraction.
    [
        (0.01, 2, 0.9950124791926823),
        (1.0, 1, 0.31731050786291115),
        (3.84, 1, 0.05004352124870519),
        (10.0, 3, 0.01856613546304325),
        (7.0, 7, 0.42887985755305486),
        (2.0, 5, 0.8491450360846096),
        (50.0, 9, 1.0772382022574693e-07),
        (200.0, 4, 3.75727673578106e-42),
    ],
)
def test_chi_square_tail_matches_scipy(statistic: float, df: int, expected: float) -> None:
    assert chi_square_sf(statistic, df) == pytest.approx(expected, rel=1e-10)


def test_chi_square_test_matches_scipy() -> None:
    # scipy.stats.chisquare([90, 100, 60], 250 * [0.4, 0.35, 0.25]), scipy 1.17.1.
    statistic, p_value = chi_square_test(np.array([400, 350, 250]), np.array([90, 100, 60]))
    assert statistic == pytest.approx(2.8857142857142857)
    assert p_value == pytest.approx(0.23625178836047603, rel=1e-10)


def test_chi_square_merges_bins_the_baseline_never_filled() -> None:
    # [0, 40, 0, 60] merges to [40, 60] and the live rows of the empty bins go with them: [35, 65].
    statistic, p_value = chi_square_test(np.array([0, 40, 0, 60]), np.array([5, 30, 10, 55]))
    assert statistic == pytest.approx(25 / 40 + 25 / 60)
    # scipy.stats.chi2.sf(25 / 40 + 25 / 60, 1), scipy 1.17.1: one degree of freedom for two bins.
    assert p_value == pytest.approx(0.30743416592739237, rel=1e-10)


def test_a_single_bin_has_nothing_to_test() -> None:
    assert chi_square_test(np.array([100]), np.array([40])) == (0.0, 1.0)
    assert ks_test(np.array([100]), np.array([40])) == (0.0, 1.0)


def test_live_data_from_the_baseline_distribution_is_stable(baseline: Baseline) -> None:
    result = measure_drift(
        baseline, NAMES, sample(5_000, seed=9), scores(5_000, seed=10), categorical=CATEGORICAL, thresholds=THRESHOLDS
    )
    assert result.status == "stable"
    assert result.rows == 5_000
    assert result.drifted_features == []
    assert [(f.feature, f.kind, f.test) for f in result.features] == [
        ("amount", "numeric", "ks"),
        ("ratio", "numeric", "ks"),
        ("foreign", "categorical", "chi_square"),
        ("night", "categorical", "chi_square"),
    ]
    assert all(f.psi < 0.02 and f.live_rows == 5_000 and not f.drifted for f in result.features)
    assert result.score is not None and not result.score.drifted


def test_shifted_features_drift_and_are_named(baseline: Baseline) -> None:
    live = sample(5_000, seed=9, amount_shift=10.0, night_rate=0.7)
    result = measure_drift(
        baseline, NAMES, live, scores(5_000, seed=10), categorical=CATEGORICAL, thresholds=THRESHOLDS
    )
    assert result.status == "drift"
    assert result.drifted_features == ["amount", "night"]
    by_name = {f.feature: f for f in result.features}
    assert by_name["amount"].psi >= 0.2 and by_name["amount"].p_value < 1e-10
    assert by_name["night"].test == "chi_square" and by_name["night"].p_value < 1e-10
    assert not by_name["ratio"].drifted


def test_shifted_scores_drift(baseline: Baseline) -> None:
    result = measure_drift(
        baseline,
        NAMES,
        sample(5_000, seed=9),
        scores(5_000, seed=10, a=5.0),
        categorical=CATEGORICAL,
        thresholds=THRESHOLDS,
    )
    assert result.status == "drift"
    assert result.drifted_features == []
    assert result.score is not None
    assert (result.score.feature, result.score.test, result.score.drifted) == ("score", "ks", True)


def test_a_significant_but_small_shift_is_not_drift(baseline: Baseline) -> None:
    # A large window makes a tenth of a standard deviation significant; its PSI stays under 0.2.
    result = measure_drift(
        baseline,
        NAMES,
        sample(200_000, seed=9, amount_shift=1.0),
        None,
        categorical=CATEGORICAL,
        thresholds=THRESHOLDS,
    )
    amount = result.features[0]
    assert amount.p_value < THRESHOLDS.max_p_value
    assert amount.psi < THRESHOLDS.max_psi
    assert result.status == "stable"
    assert result.score is None


def test_a_small_window_is_insufficient_never_drift(baseline: Baseline) -> None:
    live = sample(199, seed=9, amount_shift=50.0, night_rate=1.0)
    result = measure_drift(
        baseline, NAMES, live, scores(199, seed=10, a=9.0), categorical=CATEGORICAL, thresholds=THRESHOLDS
    )
    assert result.status == "insufficient"
    assert result.rows == 199
    assert result.features == [] and result.score is None and result.drifted_features == []


def test_too_few_scores_never_drift(baseline: Baseline) -> None:
    result = measure_drift(
        baseline,
        NAMES,
        sample(5_000, seed=9),
        scores(100, seed=10, a=9.0),
        categorical=CATEGORICAL,
        thresholds=THRESHOLDS,
    )
    assert result.score is not None
    assert result.score.live_rows == 100 and not result.score.drifted
    assert result.status == "stable"


def test_features_missing_from_the_baseline_are_named(baseline: Baseline) -> None:
    with pytest.raises(ValueError, match=r"\['velocity', 'hour'\] are not in the baseline"):
        measure_drift(
            baseline,
            [*NAMES, "velocity", "hour"],
            np.zeros((300, 6)),
            None,
            categorical=CATEGORICAL,
            thresholds=THRESHOLDS,
        )


def test_a_matrix_of_the_wrong_width_or_with_nan_is_refused(baseline: Baseline) -> None:
    with pytest.raises(ValueError, match="expected"):
        measure_drift(baseline, NAMES, np.zeros((300, 3)), None, categorical=CATEGORICAL, thresholds=THRESHOLDS)
    live = sample(300, seed=9)
    live[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"\['ratio'\]"):
        measure_drift(baseline, NAMES, live, None, categorical=CATEGORICAL, thresholds=THRESHOLDS)


def test_an_empty_baseline_histogram_is_refused() -> None:
    empty = Baseline(
        features={"amount": Histogram(edges=[0.0, 1.0], counts=[0])},
        score=Histogram(edges=[0.0, 1.0], counts=[10]),
        rows=0,
    )
    with pytest.raises(ValueError, match="'amount' counts no rows"):
        measure_drift(empty, ["amount"], np.zeros((300, 1)), None, categorical=frozenset(), thresholds=THRESHOLDS)


def test_the_zero_one_features_of_a_manifest_are_categorical() -> None:
    manifest = ManifestCatalog.from_directory(None).get("card_fraud")
    assert categorical_features(manifest) == {"foreign", "night", "card_not_present", "risky_merchant", "gambling"}
