"""Evaluation gates: each one rejects what it should, and the reasons name the gate and the numbers."""

from __future__ import annotations

import pytest

from contracts.training.v2 import GroupRate, TrainingMetrics
from leaim.domain.manifests import ManifestCatalog
from leaim.lifecycle.gates import disparate_impact, evaluate, reasons

MANIFEST = ManifestCatalog.from_directory(None).get("card_fraud")


def metrics(**overrides: object) -> TrainingMetrics:
    values: dict[str, object] = {
        "auc": 0.9,
        "precision": 0.8,
        "recall": 0.7,
        "threshold": 0.4,
        "brier": 0.05,
        "calibration_error": 0.02,
        "train_rows": 800,
        "holdout_rows": 200,
        "positive_rate": 0.1,
        "parity_max_abs_diff": 2e-7,
        "latency_p50_ms": 0.05,
        "latency_p99_ms": 0.2,
        "group_rates": {
            "cardholder_age_band": {
                "18-25": GroupRate(rows=40, favorable_rate=0.85),
                "26-40": GroupRate(rows=70, favorable_rate=0.9),
                "41-65": GroupRate(rows=70, favorable_rate=0.92),
                "65+": GroupRate(rows=20, favorable_rate=0.2),
            }
        },
    }
    values.update(overrides)
    return TrainingMetrics.model_validate(values)


def test_a_good_version_passes_every_gate_and_small_groups_are_reported_not_gated() -> None:
    results = evaluate(MANIFEST, metrics())
    assert all(result.passed for result in results), reasons(results)
    names = [result.gate for result in results]
    assert names == [
        "auc",
        "precision",
        "recall",
        "calibration_error",
        "onnx_parity",
        "latency_p99_ms",
        "disparate_impact:cardholder_age_band",
    ]
    bias = results[-1]
    assert bias.value == pytest.approx(0.85 / 0.92)
    assert "not gated" in bias.message and "65+" in bias.message


@pytest.mark.parametrize(
    ("overrides", "gate", "words"),
    [
        ({"auc": 0.55}, "auc", "auc 0.55 is below the minimum 0.8"),
        ({"calibration_error": 0.3}, "calibration_error", "above the maximum"),
        ({"parity_max_abs_diff": 3e-5}, "onnx_parity", "onnx_parity 3e-05 is above the maximum 1e-05"),
        ({"latency_p99_ms": 50.0}, "latency_p99_ms", "latency_p99_ms 50 is above the maximum"),
    ],
)
def test_each_quality_gate_rejects_a_version_below_its_limit(
    overrides: dict[str, float], gate: str, words: str
) -> None:
    failed = [result for result in evaluate(MANIFEST, metrics(**overrides)) if not result.passed]
    assert [result.gate for result in failed] == [gate]
    assert words in failed[0].message


def test_precision_and_recall_gates_use_the_manifest_limits() -> None:
    strict = MANIFEST.model_copy(
        update={"gates": MANIFEST.gates.model_copy(update={"min_precision": 0.9, "min_recall": 0.9})}
    )
    failed = {result.gate for result in evaluate(strict, metrics()) if not result.passed}
    assert failed == {"precision", "recall"}


def test_disparate_impact_below_the_minimum_rejects_and_names_the_groups() -> None:
    biased = {
        "cardholder_age_band": {
            "18-25": GroupRate(rows=50, favorable_rate=0.5),
            "41-65": GroupRate(rows=100, favorable_rate=0.95),
        }
    }
    failed = [result for result in evaluate(MANIFEST, metrics(group_rates=biased)) if not result.passed]
    assert [result.gate for result in failed] == ["disparate_impact:cardholder_age_band"]
    assert failed[0].value == pytest.approx(0.5 / 0.95)
    assert "18-25" in failed[0].message and "41-65" in failed[0].message


def test_bias_that_cannot_be_measured_fails_closed() -> None:
    missing = [r for r in evaluate(MANIFEST, metrics(group_rates={})) if not r.passed]
    assert [r.gate for r in missing] == ["disparate_impact:cardholder_age_band"]
    assert "cannot be evaluated" in missing[0].message
    one_group = {"cardholder_age_band": {"26-40": GroupRate(rows=200, favorable_rate=0.9)}}
    too_few = [r for r in evaluate(MANIFEST, metrics(group_rates=one_group)) if not r.passed]
    assert "fewer than 2 groups" in too_few[0].message


def test_disparate_impact_ratio() -> None:
    assert disparate_impact({"a": 0.4, "b": 0.8}) == pytest.approx(0.5)
    assert disparate_impact({"a": 0.0, "b": 0.0}) is None
