"""The worker benchmark, run small: every model trained, published, loaded and scored at every batch size."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console

from embedded.bench.models import bench_models, model_page, run_model_bench

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray


def synthetic_matrix(rows: int, seed: int = 7) -> tuple[NDArray[np.float64], NDArray[np.int64], list[str]]:
    """Eight features and labels drawn from a logistic model with an interaction."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 8)) * np.array([1.0, 2.0, 3.0, 1.0, 1.0, 5.0, 1.0, 0.5])
    logits = features @ np.array([1.5, -0.5, 0.3, 0.0, 2.0, -0.2, 0.8, 0.0]) + features[:, 0] * features[:, 6] - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return features, labels, [f"f{i}" for i in range(8)]


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
    assert all(c.session_ms > 0 for c in bench.cold_loads)
    assert all(t.session_rows_per_s > 0 for t in bench.throughput)
    assert [t.speedup for t in bench.throughput if t.batch_size == 1] == [1.0, 1.0, 1.0]
    report = model_page(bench, data="synthetic rows", command="test", started_at=datetime.now(UTC)).markdown()
    assert "CPUExecutionProvider" in report
    assert all(label in report for label in labels_seen)


def test_a_run_writes_its_page_with_the_machine_the_date_and_its_tables(tmp_path: Path) -> None:
    output = io.StringIO()

    status = run_model_bench(Console(file=output, width=200), rows=400, tree_counts=(2,), docs_dir=tmp_path)

    page = (tmp_path / "models.md").read_text(encoding="utf-8")
    assert status == 0
    assert [path.name for path in tmp_path.iterdir()] == ["models.md"]
    assert page.startswith("# Models: training, cold load and batched scoring\n")
    assert "`uv run leaim bench-models --rows 400`" in page
    assert f"started {datetime.now(UTC):%Y-%m-%d}" in page
    assert "- CPU: " in page and "- Memory: " in page and "- OS: " in page and "- Python: " in page
    assert "- onnxruntime provider: CPUExecutionProvider" in page
    assert "The project sets no target for this benchmark" in page
    for title in ("## Training and evaluation", "## Worker cold load", "## Batched scoring"):
        assert title in page
    assert "| logistic regression | 1 | " in page
    assert "| boosted trees x2 | 8 | " in page
    assert f"Wrote {tmp_path / 'models.md'}" in output.getvalue()
