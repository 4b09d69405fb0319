"""The benchmarks that start the local stack, run small: each writes its page into the folder it is given."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.bench.decisions import run_bench
from embedded.bench.ingestion import run_ingest_bench

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def machine_and_date_in(page: str) -> bool:
    return f"started {datetime.now(UTC):%Y-%m-%d}" in page and all(
        f"- {line}: " in page for line in ("CPU", "Memory", "OS", "Python")
    )


def test_the_decision_benchmark_writes_its_page_with_its_floors_and_targets(tmp_path: Path) -> None:
    output = io.StringIO()

    status = run_bench(
        Console(file=output, width=200),
        iterations=20,
        http_requests=6,
        cold_starts=1,
        training_rows=2_000,
        docs_dir=tmp_path,
    )

    page = (tmp_path / "decisions.md").read_text(encoding="utf-8")
    assert status == 0
    assert [path.name for path in tmp_path.iterdir()] == ["decisions.md"]
    assert page.startswith("# Decision path\n")
    assert "`uv run leaim bench --iterations 20 --http-requests 6`" in page
    assert machine_and_date_in(page)
    assert "- onnxruntime provider: CPUExecutionProvider" in page
    for row in (
        "| raw onnxruntime, batch 1 | ",
        "| bare Chalice handler (parse only) | ",
        "| governed decision, in process | ",
        "| of which: DynamoDB GetItem | ",
        "| of which: audit commit | ",
        "| 16 | ",
        "| frameworks alone: the same ",
        "| API function: import `functions.decision_api.app`, build its decision API | ",
    ):
        assert row in page
    for target in ("at p50 (governed p50 less raw p50) | <= 1 ms |", "at p99 (governed p99 less raw p99) | <= 3 ms |"):
        assert target in page
    assert "| API function cold start, import and init (median of 1) | <= 300 ms |" in page
    assert "of 3 targets." in page
    assert "The API function's cold start imports none of onnxruntime, numpy." in page


def test_the_ingestion_benchmark_writes_its_page_against_validation_alone(tmp_path: Path) -> None:
    output = io.StringIO()

    status = run_ingest_bench(Console(file=output, width=200), records=1_000, http_records=200, docs_dir=tmp_path)

    page = (tmp_path / "ingestion.md").read_text(encoding="utf-8")
    assert status == 0
    assert page.startswith("# Ingestion throughput\n")
    assert "`uv run leaim bench-ingest --records 1000 --http-records 200`" in page
    assert machine_and_date_in(page)
    assert "onnxruntime provider" not in page
    assert "| validation, minimization, features and Parquet encoding, one core | >= 20,000 records/s | " in page
    [floor] = [line for line in page.splitlines() if line.startswith("| validation alone |")]
    assert " | 1.00 | " in floor
    for row in (
        "| validation, minimization, features, Parquet | ",
        "| Kinesis handler, invoked in its sandbox, events of 500 | ",
        "| HTTP through the local gateway, batches of 5,000 | ",
    ):
        assert row in page
