"""The one implementation of the feature transforms, shared by training data and live serving."""

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
        raise ValueError(f"feature {feature.name!r}: {name} is {value!r}, not a number")
    return float(value)


def _transform(feature: Feature, fields: Mapping[str, object]) -> float:
    value = fields.get(feature.source)
    other = fields.get(feature.other) if feature.other else None
    match feature.transform:
        case "identity":
            return _number(feature, feature.source, value)
        case "log1p":
            return math.log1p(max(_number(feature, feature.source, value), 0.0))
        case "ratio":
            # +1 in the denominator keeps the ratio finite for entities whose average is still zero.
            return _number(feature, feature.source, value) / (_number(feature, str(feature.other), other) + 1.0)
        case "indicator":
            if isinstance(feature.equals, bool):
                return 1.0 if value is feature.equals else 0.0
            return 1.0 if value == feature.equals else 0.0
        case "mismatch":
            return 1.0 if value != other else 0.0
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
    """Model features of one record, in `manifest.feature_names` order."""
    fields = {**online, **inputs}
    return [_transform(feature, fields) for feature in manifest.features]


def feature_matrix(
    manifest: UseCaseManifest, records: Iterable[tuple[Mapping[str, object], Mapping[str, object]]]
) -> list[list[float]]:
    """Feature vectors of many (inputs, online) records: training data, built by the serving transform."""
    return [feature_vector(manifest, inputs, merge_online(manifest, online)) for inputs, online in records]
