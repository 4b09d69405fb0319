"""Quality of a model version on live decisions joined to their outcomes, overall and per time bucket.

A score at or above the decision threshold predicts the positive label, as at training time
(`gpu_workers.training.evaluation.quality`). AUC is the Mann-Whitney statistic: the probability that a
random positive scores above a random negative, ties counting one half, computed from ranks with tied
scores given their average rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from numpy.typing import NDArray

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Quality:
    """Rows with a known label, the positive ones among them, and how well the scores found them.

    `auc` is None when a class is absent, `precision` when nothing was predicted positive, `recall` when
    no label is positive.
    """

    rows: int
    positives: int
    auc: float | None
    precision: float | None
    recall: float | None


@dataclass(frozen=True, slots=True)
class QualityPoint:
    """The quality of one model version on the decisions made in [start, end)."""

    version: str
    start: datetime
    end: datetime
    quality: Quality


def quality(
    scores: Sequence[float] | NDArray[np.float64], labels: Sequence[bool] | NDArray[np.bool_], *, threshold: float
) -> Quality:
    """AUC, and precision and recall at `threshold`, of `scores` against the true `labels` (True: positive)."""
    score = np.asarray(scores, dtype=np.float64)
    label = np.asarray(labels, dtype=bool)
    if score.shape != label.shape or score.ndim != 1:
        raise ValueError(f"{score.shape} scores and {label.shape} labels: one of each per row")
    rows, positives = len(score), int(label.sum())
    predicted = score >= threshold
    hits = int((predicted & label).sum())
    flagged = int(predicted.sum())
    return Quality(
        rows=rows,
        positives=positives,
        auc=_auc(score, label) if 0 < positives < rows else None,
        precision=hits / flagged if flagged else None,
        recall=hits / positives if positives else None,
    )


def quality_over_time(
    rows: Iterable[tuple[datetime, str, float, bool]], *, bucket: timedelta, threshold: float
) -> list[QualityPoint]:
    """Quality per model version and time bucket of (decided_at, version, score, label) rows.

    Buckets are `bucket` long and aligned to the Unix epoch (a day bucket runs midnight to midnight UTC),
    so the same decision always lands in the same bucket. Points are sorted by version, then start;
    buckets without rows are absent. Raises ValueError for a bucket that is not positive or a
    `decided_at` without a time zone.
    """
    if bucket <= timedelta(0):
        raise ValueError(f"bucket must be positive, got {bucket}")
    grouped: dict[tuple[str, datetime], tuple[list[float], list[bool]]] = {}
    for decided_at, version, score, label in rows:
        if decided_at.tzinfo is None:
            raise ValueError(f"decided_at {decided_at.isoformat()} has no time zone")
        start = EPOCH + ((decided_at - EPOCH) // bucket) * bucket
        scores, labels = grouped.setdefault((version, start), ([], []))
        scores.append(score)
        labels.append(label)
    return [
        QualityPoint(version=version, start=start, end=start + bucket, quality=quality(s, y, threshold=threshold))
        for (version, start), (s, y) in sorted(grouped.items())
    ]


def _auc(score: NDArray[np.float64], label: NDArray[np.bool_]) -> float:
    """Mann-Whitney U of the positives over (positives x negatives), from average ranks."""
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    # Tied scores share the average of the ranks they span: (first rank + last rank) / 2.
    last = np.cumsum(counts)
    average_rank = last - (counts - 1) / 2.0
    positives = int(label.sum())
    negatives = len(label) - positives
    rank_sum = float(average_rank[inverse][label].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)
