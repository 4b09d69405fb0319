"""The three signals of inference abuse, measured over one principal's requests of one window.

- `rate_anomaly`: the window's request count against the principal's own past windows.
- `probing`: sweeps of one input while the others stay fixed, the shape of a model extraction.
- `out_of_baseline`: requests whose features lie outside the range the champion was trained on.

Pure Python on purpose: the abuse monitor's function loads no numpy (its cold start stays lean).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contracts.training.v2 import Baseline

# The MAD of a normal distribution times this is its standard deviation: the MAD on the scale of a deviation.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class RateThresholds:
    """When a window's requests are a rate anomaly: at least `floor` of them, `min_ratio` times the principal's
    median window and `min_z` robust deviations above it."""

    floor: int = 200
    min_ratio: float = 3.0
    min_z: float = 6.0


@dataclass(frozen=True, slots=True)
class RateAnomaly:
    """A window's request count against the principal's history of windows."""

    requests: int
    median: float
    mad: float
    spread: float
    ratio: float
    z: float
    anomalous: bool


def rate_anomaly(requests: int, history: Sequence[int], thresholds: RateThresholds) -> RateAnomaly:
    """Judge `requests` in the current window against the principal's past windows (`history`, zeros included).

    Why these statistics:

    - The median and the median absolute deviation (MAD) of the past windows, not their mean and standard
      deviation: an earlier burst (an earlier attack, a batch run) drags a mean and a deviation up and so hides
      the next one, while the median and the MAD move only once a burst fills half the history.
    - The spread is the MAD on a deviation's scale, but never below the Poisson deviation of the median
      (`sqrt(median)`, at least 1): independent requests arrive as a Poisson count, so a steady principal whose
      MAD is 0 still has that much noise, and its ordinary windows are not anomalies.
    - Three conditions, each guarding a case the others miss: the absolute `floor` (a quiet key going from 1
      request to 3 is not an alarm whatever its z), the ratio (a steady busy principal, whose Poisson deviation
      is small against its level, is judged by how many times its usual level it sends) and the robust z (a
      volatile principal, whose MAD is large, must rise far above its own swings).
    """
    median = float(statistics.median(history)) if history else 0.0
    mad = float(statistics.median(abs(count - median) for count in history)) if history else 0.0
    spread = max(MAD_TO_SIGMA * mad, math.sqrt(max(median, 1.0)))
    ratio = requests / max(median, 1.0)
    z = (requests - median) / spread
    anomalous = requests >= thresholds.floor and ratio >= thresholds.min_ratio and z >= thresholds.min_z
    return RateAnomaly(requests, median, mad, spread, ratio, z, anomalous)


@dataclass(frozen=True, slots=True)
class ProbingThresholds:
    """When requests are probing: at least `min_requests` of them, and `min_share` of the principal's, lie in sweeps
    of at least `min_sweep` distinct values of one field with every other field fixed."""

    min_sweep: int = 6
    min_requests: int = 30
    min_share: float = 0.1


@dataclass(frozen=True, slots=True)
class Probing:
    """The sweeps found in a principal's requests: `swept` requests of them by field, `largest` distinct values."""

    requests: int
    in_sweeps: int
    share: float
    largest: int
    largest_field: str | None
    swept: dict[str, int]
    members: list[int] = field(default_factory=list)
    probing: bool = False


def probing(inputs: Sequence[Mapping[str, object]], fields: Sequence[str], thresholds: ProbingThresholds) -> Probing:
    """Find sweeps in `inputs` over `fields`: groups of requests equal in every field but one, with at least
    `min_sweep` distinct values of that one.

    A request in such a group differs from another of the principal's requests in exactly that field; a model
    extraction walks one input (or a grid of two, whose rows and columns are sweeps of one) while holding the
    rest. Ordinary traffic rarely repeats every other field at all, let alone `min_sweep` times. `members` are
    the indexes of the requests of the largest sweep.
    """
    keys = [tuple(json.dumps(values.get(name), sort_keys=True, default=str) for name in fields) for values in inputs]
    in_sweeps: set[int] = set()
    swept: dict[str, int] = {}
    largest, largest_field, members = 0, None, []
    for position, name in enumerate(fields):
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault(key[:position] + key[position + 1 :], []).append(index)
        for group in groups.values():
            distinct = len({keys[index][position] for index in group})
            if distinct < thresholds.min_sweep:
                continue
            in_sweeps.update(group)
            swept[name] = swept.get(name, 0) + len(group)
            if distinct > largest:
                largest, largest_field, members = distinct, name, group
    share = len(in_sweeps) / len(inputs) if inputs else 0.0
    found = len(in_sweeps) >= thresholds.min_requests and share >= thresholds.min_share
    return Probing(len(inputs), len(in_sweeps), share, largest, largest_field, swept, members, found)


@dataclass(frozen=True, slots=True)
class BaselineThresholds:
    """When requests are out of the baseline: at least `min_requests` of them and `min_share` of the principal's
    fall outside, and that share is `min_ratio` times the share of everyone else's requests."""

    min_requests: int = 20
    min_share: float = 0.2
    min_ratio: float = 5.0


@dataclass(frozen=True, slots=True)
class OutOfBaseline:
    """Which of a principal's scored requests lie outside the baseline, and by which features."""

    requests: int
    outside: list[int]
    features: dict[str, int]

    @property
    def share(self) -> float:
        """The share of the scored requests outside."""
        return len(self.outside) / self.requests if self.requests else 0.0


def baseline_ranges(reference: Baseline) -> dict[str, tuple[float, float]]:
    """Per feature, the smallest and largest value the version was trained on (its histogram's outer edges)."""
    return {name: (histogram.edges[0], histogram.edges[-1]) for name, histogram in reference.features.items()}


def out_of_baseline(
    features: Sequence[Mapping[str, float] | None], ranges: Mapping[str, tuple[float, float]]
) -> OutOfBaseline:
    """The requests (by index) with a feature below or above its training range; unscored ones are not judged.

    The range is the training split's minimum and maximum, the extreme quantiles a baseline keeps: an ordinary
    request falls outside one feature's range about once in as many requests as there were training rows.
    """
    outside: list[int] = []
    by_feature: dict[str, int] = {}
    scored = 0
    for index, vector in enumerate(features):
        if vector is None:
            continue
        scored += 1
        beyond = [name for name, (low, high) in ranges.items() if name in vector and not low <= vector[name] <= high]
        if beyond:
            outside.append(index)
            for name in beyond:
                by_feature[name] = by_feature.get(name, 0) + 1
    return OutOfBaseline(scored, outside, by_feature)


def baseline_flood(mine: OutOfBaseline, others: OutOfBaseline, thresholds: BaselineThresholds) -> bool:
    """Whether `mine` lies outside the baseline far more than everyone else's requests (`others`) of the window.

    Judged against the other principals of the same window, not against zero: drift that moves everyone's
    traffic outside the baseline is the drift monitor's to report, not one principal's abuse.
    """
    return (
        len(mine.outside) >= thresholds.min_requests
        and mine.share >= thresholds.min_share
        and mine.share >= thresholds.min_ratio * others.share
    )
