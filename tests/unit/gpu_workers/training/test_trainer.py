"""The trainer: reproducible, evaluated ONNX exports of both families, their baselines, and its refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.metrics import roc_auc_score

from contracts.training.v2 import FAMILIES, FAMILY_PARAMS, GroupRate
from gpu_workers.exceptions import DeadlineExceededError, InvalidRequestError
from gpu_workers.training import evaluation
from gpu_workers.training.export import cpu_session, run_session
from gpu_workers.training.trainer import FITTERS, fit, split, train
from gpu_workers.training.trees import float32_thresholds

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from contracts.training.v2 import TrainingRequest

FAMILY_FIXTURES = ["trained", "trained_trees"]


def _artifact(trained) -> bytes:
    return (trained.root / f"{trained.result.artifact_digest}.onnx").read_bytes()


@pytest.mark.parametrize("fixture", FAMILY_FIXTURES)
def test_artifact_is_stored_under_its_sha256_with_metadata(fixture: str, request: pytest.FixtureRequest) -> None:
    trained = request.getfixturevalue(fixture)
    result = trained.result
    data = _artifact(trained)

    assert hashlib.sha256(data).hexdigest() == result.artifact_digest
    assert len(data) == result.artifact_bytes
    assert base64.b64decode(result.artifact_base64) == data
    model = onnx.load_from_string(data)
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert metadata["model_name"] == "card-fraud"
    assert metadata["model_version"] == trained.request.model_version
    assert metadata["family"] == trained.request.family == result.family
    assert json.loads(metadata["feature_names"]) == [f"f{i}" for i in range(8)]
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["score", "contributions"]
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 17), ("ai.onnx.ml", 3)}
    assert model.ir_version == 10


def test_every_family_of_the_contract_has_a_trainer() -> None:
    assert set(FITTERS) == set(FAMILIES) == set(FAMILY_PARAMS)


@pytest.mark.parametrize("fixture", FAMILY_FIXTURES)
def test_the_same_request_reproduces_the_artifact_and_its_evaluation(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    trained = request.getfixturevalue(fixture)

    again = train(trained.request, tmp_path, worker="other")

    assert again.artifact_digest == trained.result.artifact_digest
    assert [p.name for p in tmp_path.iterdir()] == [f"{again.artifact_digest}.onnx"]
    assert (tmp_path / f"{again.artifact_digest}.onnx").read_bytes() == _artifact(trained)
    latency = {"latency_p50_ms", "latency_p99_ms"}
    assert again.metrics.model_dump(exclude=latency) == trained.result.metrics.model_dump(exclude=latency)
    assert again.baseline == trained.result.baseline
    assert again.params == trained.result.params


def test_different_seed_gives_different_artifact(
    trained, tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    other = train(make_training_request(seed=8), tmp_path, worker="test")

    assert other.artifact_digest != trained.result.artifact_digest


@pytest.mark.parametrize("fixture", FAMILY_FIXTURES)
def test_metrics_describe_the_exported_model_on_a_stratified_holdout(
    fixture: str, request: pytest.FixtureRequest, dataset
) -> None:
    trained = request.getfixturevalue(fixture)
    metrics = trained.result.metrics
    parts = split(trained.request)
    scores, _ = run_session(cpu_session(_artifact(trained)), parts.x_holdout)
    scores = scores.astype(np.float64)
    labels = parts.y_holdout

    assert (metrics.train_rows, metrics.holdout_rows) == (1600, 400)
    assert labels.mean() == pytest.approx(dataset.labels.mean(), abs=0.01)
    assert metrics.auc == pytest.approx(roc_auc_score(labels, scores)) and metrics.auc > 0.85
    assert metrics.threshold == 0.5
    positive = scores >= 0.5
    assert metrics.positive_rate == pytest.approx(positive.mean())
    assert metrics.precision == pytest.approx(labels[positive].mean())
    assert metrics.recall == pytest.approx(positive[labels == 1].mean())
    assert metrics.brier == pytest.approx(np.mean((scores - labels) ** 2))
    assert 0.0 <= metrics.calibration_error < 0.2
    assert metrics.parity_max_abs_diff <= 1e-5
    assert 0 < metrics.latency_p50_ms <= metrics.latency_p99_ms
    assert trained.result.training_ms > 0 and trained.result.evaluation_ms > 0
    assert trained.result.duration_ms >= trained.result.training_ms + trained.result.evaluation_ms


def test_a_threshold_changes_decisions_not_scores(trained, tmp_path: Path) -> None:
    strict = train(trained.request.model_copy(update={"threshold": 0.8}), tmp_path, worker="test")

    assert strict.artifact_digest == trained.result.artifact_digest
    assert strict.metrics.auc == trained.result.metrics.auc
    assert strict.metrics.threshold == 0.8
    assert strict.metrics.positive_rate < trained.result.metrics.positive_rate


def test_logistic_export_matches_scikit_learn_on_the_holdout(trained) -> None:
    fitted = fit(trained.request)
    x = fitted.split.x_holdout
    scores, contributions = run_session(cpu_session(_artifact(trained)), x)

    model = fitted.model
    assert np.max(np.abs(scores - model.predict(x))) == pytest.approx(trained.result.metrics.parity_max_abs_diff)
    logits = model.classifier.decision_function(model.scaler.transform(x))
    assert np.allclose(contributions.sum(axis=1) + model.classifier.intercept_[0], logits, atol=1e-4)


def test_tree_contributions_sum_with_the_bias_to_the_raw_log_odds(trained_trees) -> None:
    fitted = fit(trained_trees.request)
    x = fitted.split.x_holdout
    model = fitted.model

    scores, contributions = run_session(cpu_session(_artifact(trained_trees)), x)

    logits = model.classifier.decision_function(x.astype(np.float32))
    assert np.max(np.abs(contributions.astype(np.float64).sum(axis=1) + model.bias - logits)) < 1e-5
    assert np.max(np.abs(scores - model.classifier.predict_proba(x.astype(np.float32))[:, 1])) <= 1e-5
    split_on = {int(f) for e in model.classifier.estimators_[:, 0] for f in e.tree_.feature if f >= 0}
    credited = set(np.flatnonzero(np.abs(contributions).sum(axis=0)).tolist())
    assert credited == split_on


def test_stump_contributions_are_the_move_from_the_root_mean_to_the_leaf(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    request = make_training_request(
        family="gradient_boosted_trees", params={"n_estimators": 3, "max_depth": 1, "learning_rate": 0.5}
    )
    fitted = fit(request)
    result = train(request, tmp_path, worker="test")
    x = fitted.split.x_holdout[:50].astype(np.float32)

    _, contributions = run_session(cpu_session(base64.b64decode(result.artifact_base64)), x.astype(np.float64))

    expected = np.zeros((len(x), 8))
    for estimator in fitted.model.classifier.estimators_[:, 0]:
        tree = estimator.tree_
        values, weights = tree.value[:, 0, 0], tree.weighted_n_node_samples
        root = (weights[1] * values[1] + weights[2] * values[2]) / (weights[1] + weights[2])
        expected[:, tree.feature[0]] += 0.5 * (values[estimator.apply(x)] - root)
    assert np.allclose(contributions, expected, atol=1e-6)
    assert (contributions != 0).sum(axis=1).max() <= 3


def test_trees_that_never_split_score_the_training_prior(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest], dataset
) -> None:
    request = make_training_request(
        family="gradient_boosted_trees", params={"n_estimators": 3, "min_samples_leaf": 5000}
    )

    result = train(request, tmp_path, worker="test")

    scores, contributions = run_session(cpu_session(base64.b64decode(result.artifact_base64)), dataset.features[:5])
    prior = split(request).y_train.mean()
    assert np.all(contributions == 0)
    assert scores == pytest.approx([prior] * 5, abs=1e-6)
    assert result.metrics.auc == 0.5


def test_rows_on_split_thresholds_take_scikit_learns_branches(trained_trees) -> None:
    model = fit(trained_trees.request).model
    base = split(trained_trees.request).x_holdout[0].astype(np.float32)
    rows = []
    for estimator in model.classifier.estimators_[:, 0]:
        tree = estimator.tree_
        inner = np.flatnonzero(tree.children_left != -1)
        for node, at in zip(inner, float32_thresholds(tree.threshold[inner]), strict=True):
            for value in (at, np.nextafter(at, np.float32(np.inf))):
                row = base.copy()
                row[tree.feature[node]] = value
                rows.append(row)
    x = np.array(rows, dtype=np.float32)

    scores, _ = run_session(cpu_session(_artifact(trained_trees)), x.astype(np.float64))

    assert np.max(np.abs(scores - model.classifier.predict_proba(x)[:, 1])) <= 1e-5


def test_float32_thresholds_are_the_largest_float32_at_or_below() -> None:
    thresholds = np.random.default_rng(3).normal(size=10_000) * 10.0 ** np.arange(-5, 5).repeat(1000)

    rounded = float32_thresholds(thresholds)

    assert rounded.dtype == np.float32
    assert np.all(rounded.astype(np.float64) <= thresholds)
    assert np.all(np.nextafter(rounded, np.float32(np.inf)).astype(np.float64) > thresholds)


def test_params_are_filled_with_the_contracts_defaults(
    make_training_request: Callable[..., TrainingRequest],
) -> None:
    trees = fit(make_training_request(family="gradient_boosted_trees", params={"n_estimators": 5, "subsample": 1}))
    linear = fit(make_training_request(params={"C": 2}))

    assert trees.params == {
        "n_estimators": 5,
        "learning_rate": 0.1,
        "max_depth": 3,
        "subsample": 1.0,
        "min_samples_leaf": 1,
    }
    assert trees.model.classifier.get_params()["n_estimators"] == 5
    assert linear.params == {"C": 2.0, "max_iter": 200, "tol": 1e-4}
    assert isinstance(linear.params["C"], float)


@pytest.mark.parametrize(
    ("family", "params", "named"),
    [
        ("gradient_boosted_trees", {"n_estimators": 0}, "n_estimators"),
        ("gradient_boosted_trees", {"learning_rate": 0.0}, "learning_rate"),
        ("gradient_boosted_trees", {"max_depth": 9}, "max_depth"),
        ("gradient_boosted_trees", {"loss": "exponential"}, "loss"),
        ("gradient_boosted_trees", {"C": 1.0}, "'C'"),
        ("logistic_regression", {"penalty": "l1"}, "penalty"),
        ("logistic_regression", {"C": "strong"}, "C"),
        ("logistic_regression", {"max_iter": True}, "max_iter"),
        ("logistic_regression", {"class_weight": "heavy"}, "class_weight"),
        ("random_forest", {}, "random_forest"),
    ],
)
def test_unusable_params_and_families_are_refused_by_name(
    tmp_path: Path,
    make_training_request: Callable[..., TrainingRequest],
    family: str,
    params: dict[str, object],
    named: str,
) -> None:
    # Bypasses the contract's own validation, to show the worker refuses on its own.
    request = make_training_request().model_copy(update={"family": family, "params": params})

    with pytest.raises(InvalidRequestError, match=named):
        train(request, tmp_path, worker="test")

    assert list(tmp_path.iterdir()) == []


def test_group_rates_count_the_holdout_rows_of_each_named_group(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest], trained
) -> None:
    regions = [None if i % 5 == 0 else ("north" if i % 2 else "south") for i in range(2000)]
    request = make_training_request(groups={"region": regions})

    result = train(request, tmp_path, worker="test")

    holdout = split(request).holdout_rows
    scores, _ = run_session(cpu_session(base64.b64decode(result.artifact_base64)), split(request).x_holdout)
    rates = result.metrics.group_rates["region"]
    assert sorted(rates) == ["north", "south"]
    for name, rate in rates.items():
        members = np.array([regions[row] == name for row in holdout])
        assert rate.rows == members.sum()
        assert rate.favorable_rate == pytest.approx((scores[members] < 0.5).mean())
    assert sum(rate.rows for rate in rates.values()) == sum(regions[row] is not None for row in holdout)
    assert result.artifact_digest == trained.result.artifact_digest, "groups are never features"


def test_group_rates_on_a_constructed_case() -> None:
    groups = {"age": ["young", "old", None, "young", "old", "young"], "sex": [None] * 6}
    rows = np.array([5, 0, 1, 2, 3])
    scores = np.array([0.2, 0.7, 0.1, 0.9, 0.4])

    rates = evaluation.group_rates(groups, rows, scores, threshold=0.5)

    assert rates == {
        "age": {"young": GroupRate(rows=3, favorable_rate=2 / 3), "old": GroupRate(rows=1, favorable_rate=1.0)},
        "sex": {},
    }


def test_calibration_error_weighs_each_bin_by_its_size() -> None:
    labels = np.array([0, 1, 1, 1, 0])
    scores = np.array([0.05, 0.05, 0.95, 0.95, 0.55])

    error = evaluation.calibration_error(labels, scores)

    assert error == pytest.approx((2 * 0.45 + 2 * 0.05 + 1 * 0.55) / 5)


def test_histograms_have_open_ended_outer_bins() -> None:
    histogram = evaluation.histogram(np.array([-5.0, 0.0, 0.5, 1.0, 1.5, 2.0, 7.0]), [0.0, 1.0, 2.0])

    assert histogram.counts == [3, 4]


def test_feature_edges_are_deduplicated_deciles_or_one_bin_per_value() -> None:
    rng = np.random.default_rng(5)

    spread = evaluation.quantile_edges(rng.normal(size=1000))
    binary = evaluation.quantile_edges((rng.random(1000) < 0.3).astype(float))
    constant = evaluation.quantile_edges(np.full(100, 4.0))
    rare = evaluation.quantile_edges((rng.random(1000) < 0.03).astype(float))
    few = evaluation.quantile_edges(rng.integers(0, 5, size=1000).astype(float))

    assert len(spread) == 11 and spread == sorted(spread)
    assert binary == [0.0, 1.0, 1.0]
    # A rare value still gets its own bin, or a shift in its share could not be seen.
    assert rare == [0.0, 1.0, 1.0]
    assert few == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert evaluation.histogram((np.arange(10) >= 7).astype(float), binary).counts == [7, 3]
    assert constant == [4.0, 4.0]
    assert evaluation.histogram(np.full(100, 4.0), constant).counts == [100]


@pytest.mark.parametrize("fixture", FAMILY_FIXTURES)
def test_baseline_counts_the_training_split_and_the_holdout_scores(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    trained = request.getfixturevalue(fixture)
    baseline = trained.result.baseline
    parts = split(trained.request)

    assert baseline.rows == 1600
    assert sorted(baseline.features) == sorted(trained.request.feature_names)
    for column, name in enumerate(trained.request.feature_names):
        histogram = baseline.features[name]
        assert sum(histogram.counts) == 1600
        assert len(histogram.edges) == 11
        assert histogram.edges[0] == parts.x_train[:, column].min()
        assert histogram.edges[-1] == parts.x_train[:, column].max()
    assert baseline.score.edges == pytest.approx([i / 10 for i in range(11)])
    assert sum(baseline.score.counts) == 400


def test_expired_deadline_is_refused(tmp_path: Path, make_training_request: Callable[..., TrainingRequest]) -> None:
    request = make_training_request(deadline_unix_ms=int(time.time() * 1000) - 1)

    with pytest.raises(DeadlineExceededError):
        train(request, tmp_path, worker="test")


def test_a_single_class_is_refused(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest], dataset
) -> None:
    labels = [0] * len(dataset.labels)
    labels[0] = 1

    with pytest.raises(InvalidRequestError, match="at least 2 rows of each label"):
        train(make_training_request(labels=labels), tmp_path, worker="test")


def test_non_finite_rows_are_refused(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest], dataset
) -> None:
    rows = dataset.features.tolist()
    rows[3][2] = float("inf")

    with pytest.raises(InvalidRequestError, match="finite"):
        train(make_training_request(rows=rows), tmp_path, worker="test")


def test_training_span_continues_the_callers_trace(
    tmp_path: Path, make_training_request: Callable[..., TrainingRequest]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    carrier: dict[str, str] = {}
    with provider.get_tracer("caller").start_as_current_span("training-job") as caller:
        propagate.inject(carrier)

    result = train(make_training_request(trace_context=carrier), tmp_path, worker="test", tracer_provider=provider)

    assert result.trace_id == format(caller.get_span_context().trace_id, "032x")
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "worker.train"]
    assert span.parent is not None
    assert span.parent.span_id == caller.get_span_context().span_id
    assert span.attributes is not None
    assert span.attributes["leaim.artifact_digest"] == result.artifact_digest
    assert span.attributes["leaim.family"] == "logistic_regression"
