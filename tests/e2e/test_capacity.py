"""`leaim capacity` run small: the measurement on the real local stack and runtime, and the page it writes."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.bench.capacity import run_capacity_bench

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def figure(page: str, row: str) -> float:
    """The first figure of the table row starting `row`."""
    line = next(line for line in page.splitlines() if line.startswith(f"| {row} | "))
    return float(line.strip("|").split("|")[1].strip().replace(",", ""))


def test_a_short_run_measures_the_decision_and_the_batches_and_sizes_the_paper_scenario(tmp_path: Path) -> None:
    output = io.StringIO()

    status = run_capacity_bench(
        Console(file=output, width=250),
        decisions=20,
        rows=600,
        tree_counts=(5,),
        training_rows=2_000,
        docs_dir=tmp_path,
    )

    page = (tmp_path / "capacity.md").read_text(encoding="utf-8")
    assert status == 0
    assert page.startswith("# Capacity: 10,000 governed decisions per second\n")
    assert "`uv run leaim capacity --decisions 20 --rows 600 --tree-counts 5 --rate 10000" in page
    # Measured in process: the deciding thread's CPU without the model's, and the model's apart.
    assert figure(page, "CPU of the deciding thread, model call excluded") > 0
    assert figure(page, "CPU of the model call") > 0
    # The decision is accepted in one transaction: its request key and its bundle with its events.
    assert figure(page, "calls: TransactWriteItems") == 1
    assert figure(page, "write request units: AcceptedTable") >= 4
    assert figure(page, "audit events in the accepted bundles") >= 1
    for row in ("| logistic regression | ", "| boosted trees x5 | "):
        assert row in page
    assert "| the paper's model, 20 ms a call, batches of 64 (assumed) | 3,200 | 5 | " in page
    assert "| the paper's model, 20 ms a call, one request a call (assumed) | 50 | 286 | " in page
    assert re.search(
        r"\| DecisionApiFunction concurrency, reference model \(logistic regression\), measured \| [\d,]+ \|", page
    )
    assert "| total | " in page
    assert "The paper's 8-10 inference nodes for 10,000 requests/s at 20 ms: 200 requests are in inference" in page
    assert "| https://aws.amazon.com/lambda/pricing/ | 2026-12-02 |" in page
    # The terminal shows the same tables.
    assert "Needed for 10,000 decisions/s" in output.getvalue()
