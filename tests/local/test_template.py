from __future__ import annotations

from pathlib import Path

import pytest

from leaim.local.stack import handler_module
from leaim.local.template import (
    ApiEvent,
    KinesisEvent,
    SqsEvent,
    TemplateError,
    load_template,
    load_yaml,
    merge_globals,
    parse_template,
)
from tests.local.conftest import TEMPLATE

REPOSITORY_TEMPLATE = Path(__file__).parents[2] / "template.yaml"


def test_short_tags_become_long_form_intrinsics() -> None:
    document = load_yaml(
        """
        a: !Ref Thing
        b: !GetAtt Queue.Arn
        c: !GetAtt [Queue, QueueName]
        d: !Sub "${AWS::Region}-${Queue.Arn}"
        e: !Join [",", [!Ref A, !Base64 text]]
        f: !If [Cond, !Select [0, !Split [",", "x,y"]], !FindInMap [M, K, V]]
        g: !And [!Equals [a, b], !Not [!Condition C], !Or [!Condition D, !Condition E]]
        h: !ImportValue shared-vpc
        """
    )
    assert document["a"] == {"Ref": "Thing"}
    assert document["b"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert document["c"] == {"Fn::GetAtt": ["Queue", "QueueName"]}
    assert document["d"] == {"Fn::Sub": "${AWS::Region}-${Queue.Arn}"}
    assert document["e"] == {"Fn::Join": [",", [{"Ref": "A"}, {"Fn::Base64": "text"}]]}
    assert document["f"] == {
        "Fn::If": ["Cond", {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}, {"Fn::FindInMap": ["M", "K", "V"]}]
    }
    assert document["g"] == {
        "Fn::And": [
            {"Fn::Equals": ["a", "b"]},
            {"Fn::Not": [{"Condition": "C"}]},
            {"Fn::Or": [{"Condition": "D"}, {"Condition": "E"}]},
        ]
    }
    assert document["h"] == {"Fn::ImportValue": "shared-vpc"}


def test_unknown_tag_is_named() -> None:
    with pytest.raises(TemplateError, match=r"unknown tag !Reff"):
        load_yaml("a: !Reff Thing")


def test_getatt_without_attribute_is_rejected() -> None:
    with pytest.raises(TemplateError, match=r"Resource\.Attribute"):
        load_yaml("a: !GetAtt Queue")


def test_globals_merge_maps_add_lists_and_override_scalars() -> None:
    merged = merge_globals(
        {"Timeout": 10, "Layers": ["a"], "Environment": {"Variables": {"A": "1", "B": {"Ref": "X"}}}},
        {"Timeout": 3, "Layers": ["b"], "Environment": {"Variables": {"B": {"Fn::Sub": "y"}, "C": "3"}}},
    )
    assert merged == {
        "Timeout": 3,
        "Layers": ["a", "b"],
        "Environment": {"Variables": {"A": "1", "B": {"Fn::Sub": "y"}, "C": "3"}},
    }


def test_fixture_functions_carry_globals_and_events() -> None:
    template = load_template(TEMPLATE)
    echo = template.functions["EchoFunction"]
    assert (echo.timeout_s, echo.memory_mb, echo.runtime) == (1, 256, "python3.11")
    assert echo.environment["FIXTURE_GREETING"] == {"Ref": "Greeting"}
    assert echo.environment["FIXTURE_WORK_QUEUE_ARN"] == {"Fn::GetAtt": ["WorkQueue", "Arn"]}
    assert ApiEvent("Item", "/v1/items/{item_id}", "GET", {"Ref": "FixtureApi"}) in echo.events
    worker = template.functions["WorkerFunction"]
    assert worker.timeout_s == 3
    reported, plain = worker.events
    assert reported == SqsEvent(
        "Reported", {"Fn::GetAtt": ["WorkQueue", "Arn"]}, batch_size=10, report_batch_item_failures=True
    )
    assert plain == SqsEvent("Plain", {"Fn::GetAtt": ["PlainQueue", "Arn"]}, batch_size=5, maximum_batching_window_s=1)
    (changes,) = template.functions["StreamFunction"].events
    assert isinstance(changes, KinesisEvent)
    assert (changes.bisect_batch_on_function_error, changes.maximum_retry_attempts) == (True, 1)
    assert changes.on_failure == {"Fn::GetAtt": ["ChangesFailureQueue", "Arn"]}


def test_parameters_defaults_overrides_and_allowed_values() -> None:
    template = load_template(TEMPLATE)
    assert template.parameter_values() == {"Stage": "v1", "Greeting": "hello", "Mode": "local"}
    assert template.parameter_values({"Greeting": "hi"})["Greeting"] == "hi"
    with pytest.raises(TemplateError, match=r"Mode='staging' is not one of its AllowedValues \(local, cloud\)"):
        template.parameter_values({"Mode": "staging"})
    with pytest.raises(TemplateError, match="not declared"):
        template.parameter_values({"Nope": "x"})


def test_repository_template_parses_and_maps_handlers_to_modules() -> None:
    template = load_template(REPOSITORY_TEMPLATE)
    api = template.functions["DecisionApiFunction"]
    assert (api.code_uri, api.handler) == ("functions/decision_api/", "app.app")
    assert handler_module(template, api) == ("functions.decision_api.app", "app")
    assert api.layers == ({"Ref": "DependenciesLayer"}, {"Ref": "CoreLayer"})
    assert all(event.path.startswith("/v1/") for event in api.events if isinstance(event, ApiEvent))
    required = [name for name, parameter in template.parameters.items() if parameter.default is None]
    if required:
        with pytest.raises(TemplateError, match=f"must have values: {', '.join(required)}"):
            template.parameter_values()


def test_unsupported_event_type_names_function_and_event() -> None:
    document = {
        "Resources": {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "f/",
                    "Handler": "app.h",
                    "Events": {"Topic": {"Type": "SNS", "Properties": {}}},
                },
            }
        }
    }
    with pytest.raises(TemplateError, match=r"F\.Events\.Topic: event Type 'SNS' is not supported"):
        parse_template(document, Path("template.yaml"))


def test_a_kinesis_on_failure_destination_other_than_sqs_is_refused() -> None:
    destination = {"OnFailure": {"Type": "SNS", "Destination": "arn:aws:sns:us-east-1:123456789012:t"}}
    properties = {"Stream": "arn", "StartingPosition": "LATEST", "DestinationConfig": destination}
    document = {
        "Resources": {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "f/",
                    "Handler": "app.h",
                    "Events": {"Changes": {"Type": "Kinesis", "Properties": properties}},
                },
            }
        }
    }
    with pytest.raises(TemplateError, match=r"F\.Events\.Changes\.DestinationConfig\.OnFailure: only an SQS"):
        parse_template(document, Path("template.yaml"))
