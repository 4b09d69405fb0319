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
        "| of which: features, DynamoDB GetItem | ",
        "| of which: request key, DynamoDB GetItem | ",
        "| of which: acceptance, DynamoDB TransactWriteItems | ",
        "| 16 | ",
        "| floor: boto3, pydantic, Powertools, Chalice; a route, a logger, a DynamoDB client | ",
        "| its dependencies: the same ",
        "| API function: import its modules, then `functions.decision_api.app`, which builds its services | ",
    ):
        assert row in page
    for target in (
        "at p50 above the raw model call and the store round trips alone (sum of p50s) | <= 1 ms |",
        "at p99 above the raw model call and the store round trips alone (sum of p99s) | <= 3 ms |",
        "| accepted-store round trips per governed decision (request key read, acceptance) | <= 2 | 2.00 ",
        "| API function cold start, import and init, over the floor's (medians of 1) | <= 1.2x | ",
    ):
        assert target in page
    assert "of 4 targets." in page
    assert "The API function's cold start imports none of onnxruntime, numpy, sqlalchemy, sqlmodel." in page


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
