"""The ramp's plot is a PNG a person can open, whatever the ramp measured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedded.load.figures import step_figures
from embedded.load.plan import Arrival, LoadStep, StepRun
from embedded.load.plot import plot_ramp

if TYPE_CHECKING:
    from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_the_plot_is_written_as_a_png(tmp_path: Path) -> None:
    steps = [
        step_figures(
            StepRun(
                LoadStep(rate, 1.0), [Arrival(i / rate, i / rate, i / rate + 0.01 * rate, 200) for i in range(rate)]
            )
        )
        for rate in (5, 10, 20)
    ]

    path = plot_ramp(steps, 250.0, tmp_path / "plots" / "load.png")

    assert path == tmp_path / "plots" / "load.png"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000
