"""The worker benchmark, run small: every model trained, published, loaded and scored at every batch size."""

from __future__ import annotations

from embedded.bench.workers import bench_models, format_report, synthetic_matrix


def test_a_small_benchmark_reports_every_figure() -> None:
    features, labels, names = synthetic_matrix(400)

    bench = bench_models(
        features, labels, names, tree_counts=(2, 20), batch_sizes=(1, 4), load_repetitions=2, scored_rows=16
    )

    labels_seen = ["logistic regression", "boosted trees x2", "boosted trees x20"]
    assert (bench.rows, bench.features, bench.provider) == (400, 8, "CPUExecutionProvider")
    assert [m.label for m in bench.trained] == labels_seen
    assert [m.family for m in bench.trained] == ["logistic_regression", *["gradient_boosted_trees"] * 2]
    assert all(m.training_ms > 0 and m.evaluation_ms > 0 and 0.5 < m.auc <= 1 for m in bench.trained)
    assert bench.trained[1].artifact_bytes < bench.trained[2].artifact_bytes
    assert [(c.label, c.artifact_bytes) for c in bench.cold_loads] == [
        (m.label, m.artifact_bytes) for m in bench.trained
    ]
    assert all(c.load_ms > 0 for c in bench.cold_loads)
    assert [(t.label, t.batch_size) for t in bench.throughput] == [
        (label, size) for label in labels_seen for size in (1, 4)
    ]
    assert all(t.rows_per_s > 0 for t in bench.throughput)
    assert [t.speedup for t in bench.throughput if t.batch_size == 1] == [1.0, 1.0, 1.0]
    report = format_report(bench)
    assert "CPUExecutionProvider" in report
    assert all(label in report for label in labels_seen)
