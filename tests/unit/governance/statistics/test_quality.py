from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from leaim.governance.statistics.quality import Quality, QualityPoint, quality, quality_over_time


def pairwise_auc(scores: list[float], labels: list[bool]) -> float:
    """Share of (positive, negative) pairs the positive scores higher, ties counting one half."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_auc_precision_and_recall_on_a_small_example() -> None:
    result = quality([0.1, 0.4, 0.35, 0.8], [False, False, True, True], threshold=0.5)
    assert result == Quality(rows=4, positives=2, auc=0.75, precision=1.0, recall=0.5)


def test_auc_equals_the_pairwise_count_with_ties() -> None:
    rng = np.random.default_rng(4)
    labels = (rng.random(400) < 0.3).tolist()
    # Rounded scores make many ties, positives a little higher on average.
    scores = np.round(rng.random(400) * 0.8 + 0.2 * np.array(labels), 1).tolist()
    result = quality(scores, labels, threshold=0.5)
    assert result.auc == pytest.approx(pairwise_auc(scores, labels), rel=1e-12)


def test_a_score_at_the_threshold_predicts_positive() -> None:
    result = quality([0.5, 0.49], [True, False], threshold=0.5)
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_unmeasurable_figures_are_none() -> None:
    assert quality([0.2, 0.9], [False, False], threshold=0.5) == Quality(2, 0, None, 0.0, None)
    assert quality([0.3, 0.2], [True, False], threshold=0.5) == Quality(2, 1, 1.0, None, 0.0)
    assert quality([], [], threshold=0.5) == Quality(0, 0, None, None, None)


def test_scores_and_labels_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one of each per row"):
        quality([0.1, 0.2], [True], threshold=0.5)


def test_quality_over_time_groups_by_version_and_epoch_aligned_bucket() -> None:
    hour = timedelta(hours=1)
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    plus_one = timezone(timedelta(hours=1))
    rows = [
        (at + timedelta(minutes=59), "v2", 0.9, True),
        (at + timedelta(minutes=5), "v1", 0.8, True),
        (at + timedelta(minutes=30), "v1", 0.2, False),
        # 11:00 UTC written at +01:00: the next bucket, whatever the offset it was written in.
        (datetime(2026, 3, 2, 12, 0, tzinfo=plus_one), "v1", 0.7, False),
        (at + timedelta(minutes=61), "v1", 0.1, True),
    ]
    points = quality_over_time(rows, bucket=hour, threshold=0.5)
    assert points == [
        QualityPoint("v1", at, at + hour, Quality(rows=2, positives=1, auc=1.0, precision=1.0, recall=1.0)),
        QualityPoint("v1", at + hour, at + 2 * hour, Quality(rows=2, positives=1, auc=0.0, precision=0.0, recall=0.0)),
        QualityPoint("v2", at, at + hour, Quality(rows=1, positives=1, auc=None, precision=1.0, recall=1.0)),
    ]


def test_a_day_bucket_runs_from_midnight_utc() -> None:
    [point] = quality_over_time(
        [(datetime(2026, 3, 2, 23, 59, tzinfo=UTC), "v1", 0.3, False)], bucket=timedelta(days=1), threshold=0.5
    )
    assert (point.start, point.end) == (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))


def test_naive_times_and_empty_buckets_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        quality_over_time([(datetime(2026, 3, 2), "v1", 0.3, False)], bucket=timedelta(hours=1), threshold=0.5)
    with pytest.raises(ValueError, match="positive"):
        quality_over_time([], bucket=timedelta(0), threshold=0.5)
