"""`leaim bench-drift`: the drift check of one monitoring window, timed on a large seeded one against its floor.

The baseline is built by the training worker's own evaluation code from `TRAINING_ROWS` seeded rows: of
every three features, one normal, one log-normal and one 0/1. The live window draws `rows` rows from the
same distributions, except two features shifted so that the check has drift to find, and one score per row.
The floor is the window read once: every value checked to be finite, the first thing the check does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from embedded.bench.report import DOCS_DIRECTORY, BenchmarkPage, Column, FigureTable, describe_machine, publish, ratio
from gpu_workers.training.evaluation import baseline
from leaim.governance.statistics.drift import DriftThresholds, measure_drift

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray
    from rich.console import Console

    from contracts.training.v2 import Baseline
    from leaim.governance.statistics.drift import DriftResult

TRAINING_ROWS = 100_000
HOLDOUT_ROWS = 20_000
RUNS = 3
THRESHOLDS = DriftThresholds(min_rows=200, max_psi=0.2, max_p_value=0.01)
# The features `_rows` shifts in the live window, a normal one and a 0/1 one: those the check should find.
SHIFTED = (0, 2)


def _rows(rng: np.random.Generator, rows: int, features: int, *, shifted: bool) -> NDArray[np.float64]:
    """`rows` x `features` values; `shifted` moves the normal features of `SHIFTED` by half a deviation and
    the 0/1 features of `SHIFTED` from 30% ones to 55%."""
    matrix = np.empty((rows, features))
    for column in range(features):
        match column % 3:
            case 0:
                matrix[:, column] = rng.normal(0.5 if shifted and column in SHIFTED else 0.0, 1.0, rows)
            case 1:
                matrix[:, column] = rng.lognormal(0.0, 0.5, rows)
            case _:
                matrix[:, column] = rng.random(rows) < (0.55 if shifted and column in SHIFTED else 0.3)
    return matrix


def run_drift_bench(console: Console, *, rows: int, features: int, docs_dir: Path | None = DOCS_DIRECTORY) -> int:
    """Time `measure_drift` on `rows` live rows of `features` features and their scores (best of `RUNS`),
    against reading the window once; print the table and write `drift.md` into `docs_dir` (nothing when None).

    Returns the exit status.
    """
    started_at = datetime.now(UTC)
    rng = np.random.default_rng(17)
    names = [f"feature_{column:02d}" for column in range(features)]
    categorical = frozenset(name for column, name in enumerate(names) if column % 3 == 2)
    with console.status(f"Building the baseline and {rows:,} x {features} live rows..."):
        reference = baseline(
            names, _rows(rng, TRAINING_ROWS, features, shifted=False), rng.beta(2.0, 5.0, HOLDOUT_ROWS)
        )
        live = _rows(rng, rows, features, shifted=True)
        scores = rng.beta(2.0, 5.0, rows)
    with console.status(f"Reading the window, then measuring drift, {RUNS} runs each..."):
        reads = [_read_once(live, scores) for _ in range(RUNS)]
        runs = [_timed(reference, names, live, scores, categorical) for _ in range(RUNS)]
    seconds = [elapsed for elapsed, _ in runs]
    result = runs[-1][1]
    floor = min(reads)
    table = FigureTable(
        title=f"Drift check of one window, {rows:,} rows x {features} features and their scores",
        columns=(
            Column("measurement", figures=False),
            Column("best ms"),
            Column("slowest ms"),
            Column("rows/s"),
            Column("x read once"),
        ),
        rows=[
            (
                "the window read once (every value checked to be finite)",
                f"{floor * 1000:,.1f}",
                f"{max(reads) * 1000:,.1f}",
                f"{rows / floor:,.0f}",
                ratio(floor, floor),
            ),
            (
                "`measure_drift`: bin every feature and the score, PSI and a KS or chi-square test each",
                f"{min(seconds) * 1000:,.1f}",
                f"{max(seconds) * 1000:,.1f}",
                f"{rows / min(seconds):,.0f}",
                ratio(min(seconds), floor),
            ),
        ],
        note=f"Best and slowest of {RUNS} runs each. Each ratio is the best time over the best time of the read.",
    )
    expected = [names[column] for column in SHIFTED if column < features]
    page = BenchmarkPage(
        name="drift",
        title="Drift check",
        summary=(
            f"The drift computation alone on one seeded window of {rows:,} live rows of {features} features plus "
            "their scores, against a baseline the training worker's own evaluation code built from "
            f"{TRAINING_ROWS:,} rows: each feature binned on its baseline's edges, with PSI and a KS test "
            "(chi-square for the 0/1 features). The floor is the window read once. Of every three features one is "
            "normal, one log-normal and one 0/1; the live window shifts two of them so that there is drift to find."
        ),
        command=f"leaim bench-drift --rows {rows} --features {features}",
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=[table],
        findings=[
            f"The check judged the window {result.status}; drifted features: "
            f"{', '.join(result.drifted_features) or 'none'} (shifted on purpose: {', '.join(expected) or 'none'})."
        ],
    )
    publish(console, page, docs_dir)
    return 0


def _read_once(live: NDArray[np.float64], scores: NDArray[np.float64]) -> float:
    """Seconds to check every value of the window once, as `measure_drift` first does."""
    started = time.perf_counter()
    if not (np.isfinite(live).all() and np.isfinite(scores).all()):
        raise ValueError("the live window has values that are not finite")
    return time.perf_counter() - started


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
