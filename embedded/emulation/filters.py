"""Lambda's event filtering: the `FilterCriteria` patterns an event source mapping applies to each record.

A pattern is a JSON object read as Lambda reads it. Each key names a field of the record; its value is either
an object, matched against the field's object the same way (nested keys), or a list of conditions, of which
the field's value must meet at least one. Every key of a pattern must match. A field whose value is a list
matches when one of its elements does. A condition is an exact value (string, number, boolean or null) or
one of `{"prefix": s}`, `{"suffix": s}`, `{"equals-ignore-case": s}`, `{"anything-but": value or [values]}`,
`{"numeric": [op, n, ...]}` (op one of `=`, `<`, `<=`, `>`, `>=`) and `{"exists": true | false}`.
A record is kept when it matches any of the mapping's patterns; one that matches none is skipped.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_MISSING = object()
_COMPARISONS: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_STRING_OPERATORS = frozenset({"prefix", "suffix", "equals-ignore-case"})
OPERATORS = frozenset({*_STRING_OPERATORS, "anything-but", "numeric", "exists"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_condition(condition: Any, where: str) -> None:
    if condition is None or isinstance(condition, str | bool) or _is_number(condition):
        return
    if not isinstance(condition, dict) or len(condition) != 1:
        raise ValueError(f"{where}: a condition is a value or an object with one operator, got {condition!r}")
    ((name, argument),) = condition.items()
    if name not in OPERATORS:
        raise ValueError(f"{where}: operator {name!r} is not one of {', '.join(sorted(OPERATORS))}")
    if name in _STRING_OPERATORS and not isinstance(argument, str):
        raise ValueError(f"{where}: {name} takes a string, got {argument!r}")
    if name == "exists" and not isinstance(argument, bool):
        raise ValueError(f"{where}: exists takes true or false, got {argument!r}")
    if name == "anything-but":
        values = argument if isinstance(argument, list) else [argument]
        if not values or not all(isinstance(v, str) or _is_number(v) for v in values):
            raise ValueError(f"{where}: anything-but takes a string, a number or a list of them, got {argument!r}")
    if name == "numeric" and not (
        isinstance(argument, list)
        and argument
        and len(argument) % 2 == 0
        and all(isinstance(op, str) and op in _COMPARISONS for op in argument[0::2])
        and all(_is_number(bound) for bound in argument[1::2])
    ):
        raise ValueError(f"{where}: numeric takes [operator, number, ...], got {argument!r}")


def _check_pattern(pattern: Any, where: str) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise ValueError(f"{where}: a pattern is a non-empty JSON object, got {pattern!r}")
    for key, value in pattern.items():
        here = f"{where}.{key}"
        if isinstance(value, dict):
            _check_pattern(value, here)
        elif isinstance(value, list) and value:
            for condition in value:
                _check_condition(condition, here)
        else:
            raise ValueError(f"{here}: give an object of keys or a non-empty list of conditions, got {value!r}")


def _meets(condition: Any, value: Any) -> bool:
    """Whether one present, non-list value meets one condition."""
    if not isinstance(condition, dict):
        if _is_number(condition) and _is_number(value):
            return bool(condition == value)
        return type(condition) is type(value) and bool(condition == value)
    ((name, argument),) = condition.items()
    if name == "exists":
        return bool(argument)
    if name == "numeric":
        return _is_number(value) and all(
            _COMPARISONS[op](value, bound) for op, bound in zip(argument[0::2], argument[1::2], strict=True)
        )
    if name == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_meets(excluded_value, value) for excluded_value in excluded)
    if not isinstance(value, str):
        return False
    if name == "prefix":
        return value.startswith(argument)
    if name == "suffix":
        return value.endswith(argument)
    return value.casefold() == str(argument).casefold()


def _field_matches(conditions: list[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(c, dict) and c.get("exists") is False for c in conditions)
    values = value if isinstance(value, list) else [value]
    return any(_meets(condition, item) for condition in conditions for item in values)


def _matches(pattern: Mapping[str, Any], record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    for key, expected in pattern.items():
        value = record.get(key, _MISSING)
        if isinstance(expected, dict):
            if not _matches(expected, value):
                return False
        elif not _field_matches(expected, value):
            return False
    return True


@dataclass(frozen=True)
class EventPattern:
    """One `FilterCriteria.Filters[*].Pattern`, checked when it is parsed."""

    text: str
    tree: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, text: Any) -> EventPattern:
        """Read a pattern from its JSON text; ValueError names what is wrong with it."""
        if not isinstance(text, str):
            raise ValueError(f"a filter Pattern is JSON text, got {text!r}")
        try:
            tree = json.loads(text)
        except ValueError as error:
            raise ValueError(f"a filter Pattern must be JSON: {error}") from None
        _check_pattern(tree, "Pattern")
        return cls(text=text, tree=tree)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether the record (as the function would receive it) matches this pattern."""
        return _matches(self.tree, record)
