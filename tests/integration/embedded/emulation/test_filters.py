"""Lambda's filter patterns, read and matched as Lambda reads them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from embedded.emulation.filters import EventPattern

ACCEPTED = '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["decision", "override", "outcome"]}}}}'


def _record(event_name: str, kind: str | None, **image: Any) -> dict[str, Any]:
    new_image: dict[str, Any] = {"pk": {"S": "decision#1"}, **image}
    if kind is not None:
        new_image["kind"] = {"S": kind}
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": new_image}}


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        (_record("INSERT", "decision"), True),
        (_record("INSERT", "outcome"), True),
        (_record("MODIFY", "decision"), False),
        (_record("INSERT", "request"), False),
        (_record("INSERT", None), False),
        ({"eventName": "INSERT"}, False),
        ({"eventName": "INSERT", "dynamodb": "not an object"}, False),
    ],
)
def test_exact_values_in_nested_keys(record: dict[str, Any], kept: bool) -> None:
    assert EventPattern.parse(ACCEPTED).matches(record) is kept


@pytest.mark.parametrize(
    ("conditions", "value", "kept"),
    [
        ([{"prefix": "dec"}], "decision", True),
        ([{"prefix": "dec"}], "override", False),
        ([{"suffix": "ion"}], "decision", True),
        ([{"equals-ignore-case": "DECISION"}], "Decision", True),
        ([{"anything-but": ["request", "note"]}], "decision", True),
        ([{"anything-but": "request"}], "request", False),
        ([{"numeric": [">", 0, "<=", 5]}], 5, True),
        ([{"numeric": [">", 0, "<=", 5]}], 6, False),
        ([{"numeric": ["=", 3]}], "3", False),
        ([3], 3.0, True),
        ([True], 1, False),
        ([None], None, True),
        (["a", "b"], ["c", "b"], True),
        (["a"], ["c", "d"], False),
        ([{"exists": True}], "anything", True),
        ([{"prefix": "x"}, "decision"], "decision", True),
    ],
)
def test_conditions_on_a_present_field(conditions: list[Any], value: Any, kept: bool) -> None:
    pattern = EventPattern.parse(json.dumps({"field": conditions}))
    assert pattern.matches({"field": value}) is kept


def test_exists_false_matches_only_an_absent_field() -> None:
    pattern = EventPattern.parse('{"dynamodb": {"NewImage": {"set_aside": [{"exists": false}]}}}')
    assert pattern.matches({"dynamodb": {"NewImage": {"kind": {"S": "decision"}}}})
    assert not pattern.matches({"dynamodb": {"NewImage": {"set_aside": {"S": "poison"}}}})
    assert not EventPattern.parse('{"a": [{"exists": true}]}').matches({"b": 1})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "JSON text"),
        ("{not json", "must be JSON"),
        ("[]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ('{"a": "INSERT"}', r"Pattern\.a: give an object of keys or a non-empty list"),
        ('{"a": []}', r"Pattern\.a: give an object of keys or a non-empty list"),
        ('{"a": {"b": [{"wildcard": "x*"}]}}', r"Pattern\.a\.b: operator 'wildcard' is not one of"),
        ('{"a": [{"prefix": 1}]}', "prefix takes a string"),
        ('{"a": [{"numeric": [">"]}]}', r"numeric takes \[operator, number, \.\.\.\]"),
        ('{"a": [{"numeric": ["~", 1]}]}', r"numeric takes \[operator, number, \.\.\.\]"),
        ('{"a": [{"exists": "yes"}]}', "exists takes true or false"),
        ('{"a": [{"anything-but": []}]}', "anything-but takes"),
        ('{"a": [{"prefix": "x", "suffix": "y"}]}', "one operator"),
    ],
)
def test_a_malformed_pattern_is_refused_naming_the_problem(text: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventPattern.parse(text)
