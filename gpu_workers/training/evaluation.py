"""Evaluation of an exported model on the held-out split, and the baseline drift detection compares with.

Histograms count values between consecutive edges, and their first and last bins are open-ended: a
value counts in bin i when `edges[i] <= value < edges[i + 1]`, except that every value below
`edges[1]` counts in the first bin and every value at or above `edges[-2]` in the last. Feature edges
are the training minimum, the distinct training deciles above it, and the training maximum, so a
feature with few distinct values gets fewer bins; score edges are fixed at 0.0, 0.1, ..., 1.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from contracts.training.v2 import Baseline, GroupRate, Histogram
from gpu_workers.model_format import INPUT_NAME, SCORE_OUTPUT

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import onnxruntime as ort
    from numpy.typing import NDArray

FEATURE_BINS = 10
CALIBRATION_BINS = 10
SCORE_EDGES = [i / 10 for i in range(11)]
LATENCY_ROWS = 200
LATENCY_WARMUP = 20


@dataclass(frozen=True, slots=True)
class Quality:
    """How well scores rank, decide at a threshold, and match the observed label rates."""

    auc: float
    precision: float
    recall: float
    positive_rate: float
    brier: float
    calibration_error: float


def quality(labels: NDArray[np.int64], scores: NDArray[np.float64], threshold: float) -> Quality:
    """Ranking, decisions at `threshold` (scores at or above it are positive) and calibration of `scores`."""
    predicted = (scores >= threshold).astype(np.int64)
    return Quality(
        auc=float(roc_auc_score(labels, scores)),
        precision=float(precision_score(labels, predicted, zero_division=0)),
        recall=float(recall_score(labels, predicted, zero_division=0)),
        positive_rate=float(predicted.mean()),
        brier=float(np.mean((scores - labels) ** 2)),
        calibration_error=calibration_error(labels, scores),
    )


def calibration_error(labels: NDArray[np.int64], scores: NDArray[np.float64], bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error: over equal-width score bins, |mean label - mean score| weighted by bin size."""
    index = np.minimum((scores * bins).astype(np.int64), bins - 1)
    total = 0.0
    for bin_index in np.unique(index):
        members = index == bin_index
        total += members.sum() * abs(float(labels[members].mean()) - float(scores[members].mean()))
    return total / len(scores)


def group_rates(
    groups: Mapping[str, Sequence[str | None]], rows: NDArray[np.intp], scores: NDArray[np.float64], threshold: float
) -> dict[str, dict[str, GroupRate]]:
    """Per protected attribute and group: the scored rows and their share below `threshold` (the favorable outcome).

    `groups` holds one value per request row; `rows` are the request row numbers that `scores` belong
    to. Rows without a group value (None) count in no group.
    """
    favorable = scores < threshold
    rates: dict[str, dict[str, GroupRate]] = {}
    for attribute, values in groups.items():
        members = np.array([values[row] for row in rows], dtype=object)
        rates[attribute] = {}
        for value in sorted({value for value in members if value is not None}):
            in_group = members == value
            rates[attribute][value] = GroupRate(
                rows=int(in_group.sum()), favorable_rate=float(favorable[in_group].mean())
            )
    return rates


def latency_ms(session: ort.InferenceSession, features: NDArray[np.float64]) -> tuple[float, float]:
    """Median and 99th percentile of one-row session runs over up to `LATENCY_ROWS` rows, after a warm-up."""
    rows = features[:LATENCY_ROWS].astype(np.float32)
    for row in rows[:LATENCY_WARMUP]:
        session.run([SCORE_OUTPUT], {INPUT_NAME: row[np.newaxis, :]})
    samples = []
    for row in rows:
        started = time.perf_counter()
        session.run([SCORE_OUTPUT], {INPUT_NAME: row[np.newaxis, :]})
        samples.append((time.perf_counter() - started) * 1000)
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def quantile_edges(values: NDArray[np.float64], bins: int = FEATURE_BINS) -> list[float]:
    """The minimum, the distinct inner `bins`-quantiles above it (observed values), and the maximum.

    Each inner quantile starts a bin, so a feature with few distinct values gets fewer bins. A feature
    with at most `bins` distinct values gets one bin per value, however rare: a 0/1 feature gets
    `[0, 1, 1]` (the zeros, the ones) even when the ones are under a tenth of the rows, so that drift
    in their share can be seen; a constant one gets `[v, v]`.
    """
    low, high = float(values.min()), float(values.max())
    distinct = np.unique(values)
    if len(distinct) <= bins:
        return [low, *(float(value) for value in distinct[1:]), high]
    inner = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="inverted_cdf")
    cuts = [float(cut) for cut in np.unique(inner) if cut > low]
    return [low, *cuts, high]


def histogram(values: NDArray[np.float64], edges: list[float]) -> Histogram:
    """Counts of `values` per bin of `edges`, the first and last bins open-ended (see the module docstring)."""
    index = np.searchsorted(np.asarray(edges[1:-1]), values, side="right")
    counts = np.bincount(index, minlength=len(edges) - 1)
    return Histogram(edges=edges, counts=[int(count) for count in counts])


def baseline(
    feature_names: Sequence[str], x_train: NDArray[np.float64], holdout_scores: NDArray[np.float64]
) -> Baseline:
    """Per-feature histograms of the training split and the score histogram of the held-out split."""
    features = {
        name: histogram(x_train[:, column], quantile_edges(x_train[:, column]))
        for column, name in enumerate(feature_names)
    }
    return Baseline(features=features, score=histogram(holdout_scores, SCORE_EDGES), rows=len(x_train))
