"""`leaim load` run small against the real local stack: its page holds every figure a step reports, and its plot."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.load.run import LoadOptions, run_load

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_a_short_ramp_writes_its_page_and_plot_with_every_steps_figures(tmp_path: Path) -> None:
    options = LoadOptions(
        rates=(2.0, 4.0), step_s=2.0, warmup_s=1.0, audit_samples=2, training_rows=2_000, docs_dir=tmp_path
    )

    status = run_load(Console(file=io.StringIO(), width=200), options)

    page = (tmp_path / "load.md").read_text(encoding="utf-8")
    assert status == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["load.md", "load.png"]
    assert (tmp_path / "load.png").read_bytes().startswith(PNG_SIGNATURE)
    assert page.startswith("# Load: the decision API under open-loop arrivals\n")
    assert "`uv run leaim load --rates 2,4 --step-s 2 --warmup-s 1 --audit-samples 2`" in page
    assert f"started {datetime.now(UTC):%Y-%m-%d}" in page
    assert "latency budget of 250 ms" in page
    header = next(line for line in page.splitlines() if line.startswith("| offered/s |"))
    assert header.split(" | ")[1:4] == ["sent", "achieved/s", "decisions/s"]
    rows = [line.split(" | ") for line in page.splitlines() if line.startswith(("| 2.0 |", "| 4.0 |"))]
    # Each step sent rate x (warm-up + window), whatever the latency, and lost nothing.
    assert [row[1] for row in rows] == ["6", "12"]
    assert [row[7] for row in rows] == ["0 (0 + 0)", "0 (0 + 0)"]
    # Both sampled decisions of each step were found through the audit search.
    assert [row[9].endswith("(2/2)") for row in rows] == [True, True]
    assert "| latency elasticity: p99 at the highest sustained rate over p99 at the lowest rate | <= 3 |" in page
    assert "Locust counted " in page
    assert "![Latency percentiles and achieved rate against offered rate](load.png)" in page
