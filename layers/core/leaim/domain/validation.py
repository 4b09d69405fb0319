"""Inputs checked against a use case's manifest: every problem at once, each naming its field."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from contracts.decision.v1 import FieldError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts.manifest.v1 import InputField, UseCaseManifest

Value = str | int | float | bool


def _check(spec: InputField, value: object) -> tuple[Value | None, str | None, str | None]:
    """The cleaned value, or an error type and message."""
    kind = spec.type
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, "type_error", "must be true or false"
        return value, None, None
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, "type_error", f"must be {'an integer' if kind == 'integer' else 'a number'}"
        if kind == "integer" and not isinstance(value, int):
            return None, "type_error", "must be an integer"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "type_error", "must be a finite number"
        if spec.minimum is not None and value < spec.minimum:
            return None, "out_of_range", f"must be at least {spec.minimum:g}"
        if spec.maximum is not None and value > spec.maximum:
            return None, "out_of_range", f"must be at most {spec.maximum:g}"
        return (float(value) if kind == "number" else value), None, None
    if not isinstance(value, str):
        return None, "type_error", "must be a string"
    if kind == "category" and spec.allowed is not None and value not in spec.allowed:
        return None, "not_allowed", f"must be one of {', '.join(spec.allowed)}"
    if spec.max_length is not None and len(value) > spec.max_length:
        return None, "too_long", f"must be at most {spec.max_length} characters"
    return value, None, None


def validate_inputs(
    manifest: UseCaseManifest, inputs: Mapping[str, object]
) -> tuple[dict[str, Value], list[FieldError]]:
    """The cleaned inputs, or every problem found (missing, unknown, wrong type, out of range, ...)."""
    specs = {spec.name: spec for spec in manifest.inputs}
    cleaned: dict[str, Value] = {}
    errors = [
        FieldError(field=f"inputs.{name}", message="is not an input of this use case", type="unknown_field")
        for name in inputs
        if name not in specs
    ]
    for name, spec in specs.items():
        value = inputs.get(name)
        if value is None:
            if spec.required:
                errors.append(FieldError(field=f"inputs.{name}", message="is required", type="missing"))
            continue
        good, error_type, message = _check(spec, value)
        if error_type is not None:
            errors.append(FieldError(field=f"inputs.{name}", message=str(message), type=error_type))
        elif good is not None:
            cleaned[name] = good
    return cleaned, errors
