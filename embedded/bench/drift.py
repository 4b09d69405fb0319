"""`leaim bench-drift`: the drift check of one monitoring window, timed on a large seeded one.

The baseline is built by the training worker's own evaluation code from `TRAINING_ROWS` seeded rows: of
every three features, one normal, one log-normal and one 0/1. The live window draws `rows` rows from the
same distributions, except two features shifted so that the check has drift to find, and one score per row.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from gpu_workers.training.evaluation import baseline
from leaim.governance.statistics.drift import DriftThresholds, measure_drift

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from rich.console import Console

    from contracts.training.v2 import Baseline
    from leaim.governance.statistics.drift import DriftResult

TRAINING_ROWS = 100_000
HOLDOUT_ROWS = 20_000
RUNS = 3
THRESHOLDS = DriftThresholds(min_rows=200, max_psi=0.2, max_p_value=0.01)


def _rows(rng: np.random.Generator, rows: int, features: int, *, shifted: bool) -> NDArray[np.float64]:
    """`rows` x `features` values; `shifted` moves feature 0 by half a deviation and feature 2's ones to 55%."""
    matrix = np.empty((rows, features))
    for column in range(features):
        match column % 3:
            case 0:
                matrix[:, column] = rng.normal(0.5 if shifted and column == 0 else 0.0, 1.0, rows)
            case 1:
                matrix[:, column] = rng.lognormal(0.0, 0.5, rows)
            case _:
                matrix[:, column] = rng.random(rows) < (0.55 if shifted and column == 2 else 0.3)
    return matrix


def run_drift_bench(console: Console, *, rows: int, features: int) -> int:
    """Time `measure_drift` on `rows` live rows of `features` features and their scores (best of `RUNS`)."""
    rng = np.random.default_rng(17)
    names = [f"feature_{column:02d}" for column in range(features)]
    categorical = frozenset(name for column, name in enumerate(names) if column % 3 == 2)
    with console.status(f"Building the baseline and {rows:,} x {features} live rows..."):
        reference = baseline(
            names, _rows(rng, TRAINING_ROWS, features, shifted=False), rng.beta(2.0, 5.0, HOLDOUT_ROWS)
        )
        live = _rows(rng, rows, features, shifted=True)
        scores = rng.beta(2.0, 5.0, rows)
    with console.status(f"Measuring drift, {RUNS} runs..."):
        runs = [_timed(reference, names, live, scores, categorical) for _ in range(RUNS)]
    seconds = [elapsed for elapsed, _ in runs]
    result = runs[-1][1]
    console.print(f"measure_drift: {rows:,} rows x {features} features, and their scores")
    console.print(f"  {min(seconds):.3f} s, best of {RUNS} (slowest {max(seconds):.3f} s)")
    console.print(f"  status {result.status}; drifted: {', '.join(result.drifted_features) or 'none'}")
    return 0


def _timed(
    reference: Baseline,
    names: list[str],
    live: NDArray[np.float64],
    scores: NDArray[np.float64],
    categorical: frozenset[str],
) -> tuple[float, DriftResult]:
    started = time.perf_counter()
    result = measure_drift(reference, names, live, scores, categorical=categorical, thresholds=THRESHOLDS)
    return time.perf_counter() - started, result
