"""The drift benchmark, run small: the check against reading the window once, and its page."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console

from embedded.bench.drift import run_drift_bench
from embedded.bench.report import DOCS_DIRECTORY

if TYPE_CHECKING:
    from pathlib import Path


def test_a_run_writes_its_page_with_the_machine_the_date_and_its_table(tmp_path: Path) -> None:
    output = io.StringIO()

    status = run_drift_bench(Console(file=output, width=200), rows=5_000, features=6, docs_dir=tmp_path)

    page = (tmp_path / "drift.md").read_text(encoding="utf-8")
    assert status == 0
    assert page.startswith("# Drift check\n")
    assert "`uv run leaim bench-drift --rows 5000 --features 6`" in page
    assert f"started {datetime.now(UTC):%Y-%m-%d}" in page
    assert "- CPU: " in page and "- Memory: " in page and "- OS: " in page and "- Python: " in page
    assert "onnxruntime provider" not in page
    assert "## Drift check of one window, 5,000 rows x 6 features and their scores" in page
    assert "| the window read once (every value checked to be finite) |" in page
    assert "| `measure_drift`: bin every feature and the score" in page
    assert (
        "The check judged the window drift; drifted features: feature_00, feature_02 "
        "(shifted on purpose: feature_00, feature_02)."
    ) in page


def test_a_run_told_to_write_nowhere_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    real_page = DOCS_DIRECTORY / "drift.md"
    before = real_page.stat().st_mtime_ns if real_page.exists() else None
    output = io.StringIO()

    status = run_drift_bench(Console(file=output, width=200), rows=5_000, features=3, docs_dir=None)

    assert status == 0
    assert list(tmp_path.iterdir()) == []
    assert (real_page.stat().st_mtime_ns if real_page.exists() else None) == before
    assert "measure_drift" in output.getvalue()
    assert "Wrote" not in output.getvalue()
