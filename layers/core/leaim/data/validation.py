"""Inputs checked against a use case's manifest: every problem at once, each naming its field."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from contracts.error.v1 import FieldError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contracts.dataset.v1 import DatasetField
    from contracts.manifest.v1 import InputField, UseCaseManifest

Value = str | int | float | bool
FieldValue = Value | datetime
# Integers beyond 2**53 lose digits as floats; a number input that large cannot be stored faithfully.
_LARGEST_EXACT_FLOAT_INT = 2**53


# Unknown field names are the caller's text: an error names at most this much of one.
MAX_SHOWN_NAME = 64
_JSON_TYPES: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _received(value: object) -> str:
    return _JSON_TYPES.get(type(value), "array" if isinstance(value, (list, tuple)) else "object")


def is_text(value: str) -> bool:
    """Whether `value` can be written as UTF-8: JSON admits lone surrogates, which nothing can store."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """A caller's field name as an error names it: short, and storable."""
    shown = name if is_text(name) else name.encode(errors="backslashreplace").decode()
    return shown if len(shown) <= MAX_SHOWN_NAME else shown[: MAX_SHOWN_NAME - 1] + "…"


def _timestamp(value: object) -> tuple[datetime | None, str | None, str | None]:
    if not isinstance(value, str):
        return None, "type_error", f"must be an ISO 8601 timestamp string, not {_received(value)}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, "type_error", "must be an ISO 8601 timestamp, e.g. 2026-11-23T10:15:00Z"
    if parsed.tzinfo is None:
        # A timestamp without an offset means a different instant in every time zone.
        return None, "type_error", "must carry a UTC offset (Z or +hh:mm)"
    try:
        return parsed.astimezone(UTC), None, None
    except OverflowError:
        return None, "out_of_range", "is outside the years 1 to 9999 in UTC"


def _check(spec: InputField | DatasetField, value: object) -> tuple[FieldValue | None, str | None, str | None]:
    """The cleaned value, or an error type and message."""
    kind = spec.type
    if kind == "timestamp":
        return _timestamp(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, "type_error", f"must be true or false, not {_received(value)}"
        return value, None, None
    if kind in ("number", "integer"):
        # bool is a subclass of int in Python, but a caller sending true for an amount made a mistake.
        wanted = "an integer" if kind == "integer" else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, "type_error", f"must be {wanted}, not {_received(value)}"
        if kind == "integer" and not isinstance(value, int):
            return None, "type_error", f"must be {wanted}, not {_received(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return None, "type_error", "must be a finite number"
        if isinstance(value, int) and kind == "number" and abs(value) > _LARGEST_EXACT_FLOAT_INT:
            return None, "out_of_range", "is too large to be a number"
        if spec.minimum is not None and value < spec.minimum:
            return None, "out_of_range", f"must be at least {spec.minimum:g}"
        if spec.maximum is not None and value > spec.maximum:
            return None, "out_of_range", f"must be at most {spec.maximum:g}"
        return (float(value) if kind == "number" else value), None, None
    if not isinstance(value, str):
        return None, "type_error", f"must be a string, not {_received(value)}"
    if not is_text(value):
        return None, "type_error", "must be valid Unicode text (it holds a lone surrogate)"
    if kind == "category" and spec.allowed is not None and value not in spec.allowed:
        return None, "not_allowed", f"must be one of {', '.join(spec.allowed)}"
    if spec.max_length is not None and len(value) > spec.max_length:
        return None, "too_long", f"must be at most {spec.max_length} characters"
    return value, None, None


def validate_inputs(
    manifest: UseCaseManifest, inputs: Mapping[str, object]
) -> tuple[dict[str, Value], list[FieldError]]:
    """The cleaned inputs and every problem found, all at once.

    Each problem is a `FieldError` on `inputs.<name>` with a type: missing, unknown_field, type_error,
    out_of_range, not_allowed or too_long. Typing is strict: a boolean is never a number, a string is
    never coerced, an integer is accepted for a number (and returned as a float) but a float is never
    an integer, NaN and infinities are refused. Optional fields may be absent or null; they are left
    out of the cleaned inputs. The cleaned inputs are only meaningful when the problem list is empty.
    """
    cleaned, errors = validate_fields(manifest.inputs, inputs, prefix="inputs.", unknown="an input of this use case")
    # Manifest inputs have no timestamp type, so every cleaned value is a plain JSON scalar.
    return cast("dict[str, Value]", cleaned), errors


def validate_fields(
    specs: Sequence[InputField | DatasetField], values: Mapping[str, object], *, prefix: str, unknown: str
) -> tuple[dict[str, FieldValue], list[FieldError]]:
    """`values` checked against `specs`: the cleaned values and every problem, each on `<prefix><name>`.

    The rules are those of `validate_inputs`; a `timestamp` field takes an ISO 8601 string with a UTC
    offset and comes back as an aware UTC datetime. `unknown` completes "is not ..." for unknown names.
    """
    by_name = {spec.name: spec for spec in specs}
    cleaned: dict[str, FieldValue] = {}
    errors = [
        FieldError(field=f"{prefix}{_shown(name)}", message=f"is not {unknown}", type="unknown_field")
        for name in values
        if name not in by_name
    ]
    for name, spec in by_name.items():
        value = values.get(name)
        if value is None:
            if spec.required:
                errors.append(FieldError(field=f"{prefix}{name}", message="is required", type="missing"))
            continue
        good, error_type, message = _check(spec, value)
        if error_type is not None:
            errors.append(FieldError(field=f"{prefix}{name}", message=str(message), type=error_type))
        elif good is not None:
            cleaned[name] = good
    return cleaned, errors
