"""The ramp as a picture: latency percentiles, and achieved rate, against the offered rate.

Drawn with matplotlib's object API on its Agg canvas, so no display and no global pyplot state are involved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from embedded.load.figures import StepFigures

DPI = 110


def plot_ramp(steps: Sequence[StepFigures], budget_ms: float, path: Path) -> Path:
    """Write the PNG of the ramp's latency and throughput to `path`, and return it."""
    offered = [step.offered_rate for step in steps]
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    latency, throughput = figure.subplots(1, 2)

    for label, values, marker in (
        ("p50", [step.p50_ms for step in steps], "o"),
        ("p95", [step.p95_ms for step in steps], "s"),
        ("p99", [step.p99_ms for step in steps], "^"),
    ):
        latency.plot(offered, values, marker=marker, label=label)
    latency.axhline(budget_ms, color="grey", linestyle="--", label=f"latency budget {budget_ms:g} ms")
    latency.set_yscale("log")
    latency.set_xlabel("offered rate (requests/s)")
    latency.set_ylabel("latency from the scheduled instant (ms)")
    latency.set_title("Latency percentiles")
    latency.grid(True, which="both", alpha=0.3)
    latency.legend()

    top = max(offered) * 1.05
    throughput.plot([0, top], [0, top], color="grey", linestyle="--", label="achieved = offered")
    throughput.plot(offered, [step.achieved_rate for step in steps], marker="o", label="achieved (answers/s)")
    throughput.plot(offered, [step.decisions_per_s for step in steps], marker="s", label="decisions/s (2xx)")
    throughput.set_xlabel("offered rate (requests/s)")
    throughput.set_ylabel("rate (per second)")
    throughput.set_title("Achieved rate")
    throughput.set_xlim(0, top)
    throughput.set_ylim(0, top)
    throughput.grid(True, alpha=0.3)
    throughput.legend()

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path
