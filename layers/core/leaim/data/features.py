"""The one implementation of the feature transforms, shared by training data and live serving.

Training builds its matrix with `feature_matrix`, which calls `feature_vector` per record, so the
model is trained on exactly the numbers the decision path computes for a live request.

Transforms (every result is a float):

- `identity`: the source value.
- `log1p`: log(1 + value); negative values count as 0 so the transform is defined for every input.
- `ratio`: source / (other + 1). The +1 smoothing keeps the ratio finite for an entity whose
  denominator is still 0 (a new card has no 30-day average) and damps ratios over tiny denominators.
- `indicator`: 1.0 when the value equals `equals` (booleans and categories alike), else 0.0.
- `mismatch`: 1.0 when source and other differ, else 0.0.
- `in_range`: 1.0 when low <= value <= high, else 0.0.

A boolean never equals a number here, so `indicator` with `equals: false` does not fire on 0.
Numeric transforms need a number: a missing value or a string is a `ValueError` naming the feature.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from contracts.manifest.v1 import Feature, UseCaseManifest

Value = str | int | float | bool


def online_defaults(manifest: UseCaseManifest) -> dict[str, str | int | float]:
    """The value of each online feature for an entity the store does not know yet."""
    return {feature.name: _scalar(feature.default) for feature in manifest.online_features}


def merge_online(manifest: UseCaseManifest, stored: Mapping[str, object] | None) -> dict[str, str | int | float]:
    """Stored online features, with defaults for what is missing; unknown stored names are ignored."""
    merged = online_defaults(manifest)
    for name in merged:
        if stored is not None and stored.get(name) is not None:
            merged[name] = _scalar(stored[name])
    return merged


def _scalar(value: object) -> str | int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def _number(feature: Feature, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # The value itself is not named: it may be personal data, and errors end up in stored reasons.
        kind = "missing" if value is None else type(value).__name__
        raise ValueError(f"feature {feature.name!r}: {name} is {kind}, not a number")
    return float(value)


def _same(left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    return left == right


def _transform(feature: Feature, fields: Mapping[str, object]) -> float:
    value = fields.get(feature.source)
    other = fields.get(feature.other) if feature.other else None
    match feature.transform:
        case "identity":
            return _number(feature, feature.source, value)
        case "log1p":
            return math.log1p(max(_number(feature, feature.source, value), 0.0))
        case "ratio":
            # Smoothing: +1 keeps the ratio finite for entities whose average is still zero; a negative
            # denominator is clamped to zero for the same reason.
            denominator = max(_number(feature, str(feature.other), other), 0.0) + 1.0
            return _number(feature, feature.source, value) / denominator
        case "indicator":
            return 1.0 if _same(value, feature.equals) else 0.0
        case "mismatch":
            return 0.0 if _same(value, other) else 1.0
        case "in_range":
            number = _number(feature, feature.source, value)
            return (
                1.0
                if feature.low is not None and feature.high is not None and feature.low <= number <= feature.high
                else 0.0
            )
    raise ValueError(f"unknown transform {feature.transform!r}")


def feature_vector(
    manifest: UseCaseManifest, inputs: Mapping[str, object], online: Mapping[str, object]
) -> list[float]:
    """Model features of one record, in `manifest.feature_names` order.

    `inputs` are validated inputs; `online` are the entity's online features with defaults merged
    (`merge_online`). An input wins over an online feature of the same name.
    """
    fields = {**online, **inputs}
    return [_transform(feature, fields) for feature in manifest.features]


def feature_matrix(
    manifest: UseCaseManifest, records: Iterable[tuple[Mapping[str, object], Mapping[str, object]]]
) -> list[list[float]]:
    """Feature vectors of many (inputs, online) records: training data, built by the serving transform."""
    return [feature_vector(manifest, inputs, merge_online(manifest, online)) for inputs, online in records]
