from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from embedded.emulation.exceptions import TemplateError
from embedded.emulation.filters import EventPattern
from embedded.emulation.stack import handler_module
from embedded.emulation.template import (
    ApiEvent,
    DynamoDBEvent,
    KinesisEvent,
    ScheduleEvent,
    SqsEvent,
    load_template,
    load_yaml,
    merge_globals,
    parse_template,
    rate_interval_s,
)
from tests.integration.embedded.emulation.conftest import FIXTURES, TEMPLATE
from tests.support.paths import TEMPLATE as REPOSITORY_TEMPLATE


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
    (accepted,) = template.functions["EntriesFunction"].events
    assert accepted == DynamoDBEvent(
        "Accepted",
        {"Fn::GetAtt": ["EntriesTable", "StreamArn"]},
        "TRIM_HORIZON",
        batch_size=10,
        maximum_batching_window_s=1,
        bisect_batch_on_function_error=True,
        report_batch_item_failures=True,
        maximum_retry_attempts=1,
        on_failure={"Fn::GetAtt": ["EntriesFailureQueue", "Arn"]},
        filters=(
            EventPattern.parse('{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["entry"]}}}}'),
        ),
    )


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
    assert api.layers == ({"Ref": "DependenciesLayer"}, {"Ref": "ContractsLayer"}, {"Ref": "CoreLayer"})
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


def _function_with_events(events: dict[str, Any]) -> dict[str, Any]:
    function = {"CodeUri": "f/", "Handler": "app.h", "Events": events}
    return {"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": function}}}


STREAM = {"Stream": "arn", "StartingPosition": "TRIM_HORIZON"}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"StartingPosition": "LATEST"}, "needs Stream and StartingPosition"),
        ({"Stream": "arn"}, "needs Stream and StartingPosition"),
        ({**STREAM, "StartingPosition": "AT_TIMESTAMP"}, "StartingPosition must be TRIM_HORIZON or LATEST"),
        ({**STREAM, "ParallelizationFactor": 2}, r"ParallelizationFactor: only 1 \(one reader per shard\)"),
        ({**STREAM, "BatchSize": 0}, "BatchSize must be between 1 and 10000"),
        ({**STREAM, "MaximumBatchingWindowInSeconds": 301}, "MaximumBatchingWindowInSeconds must be between 0 and 300"),
        ({**STREAM, "MaximumRetryAttempts": -2}, "MaximumRetryAttempts must be between -1 and 10000"),
        ({**STREAM, "MaximumRecordAgeInSeconds": 60}, "MaximumRecordAgeInSeconds is not supported locally"),
        ({**STREAM, "FunctionResponseTypes": ["Other"]}, r"supports only \[ReportBatchItemFailures\]"),
        ({**STREAM, "FilterCriteria": {"Filters": [{"Pattern": "{}"}]}}, r"FilterCriteria\.Filters\[0\]: Pattern"),
        ({**STREAM, "FilterCriteria": {"Filters": "x"}}, r"FilterCriteria must be \{Filters"),
    ],
)
def test_malformed_dynamodb_events_are_refused(properties: dict[str, Any], message: str) -> None:
    events = {"Accepted": {"Type": "DynamoDB", "Properties": properties}}
    with pytest.raises(TemplateError, match=rf"F\.Events\.Accepted.*{message}"):
        parse_template(_function_with_events(events), Path("template.yaml"))


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
    ],
)
def test_rate_expressions_give_their_interval(expression: str, seconds: int) -> None:
    assert rate_interval_s(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(1 minutes)", "a rate of 1 takes the unit 'minute'"),
        ("rate(5 minute)", "a rate of 5 takes the unit 'minutes'"),
        ("rate(2 day)", "a rate of 2 takes the unit 'days'"),
        ("rate(0 minutes)", "a positive whole number of minutes, hours or days"),
        ("rate(30 seconds)", "a positive whole number of minutes, hours or days"),
        ("rate(5 weeks)", "a positive whole number of minutes, hours or days"),
        ("rate(five minutes)", r"only rate\(value unit\)"),
        ("rate(5  minutes)", r"only rate\(value unit\)"),
        ("rate(-5 minutes)", r"only rate\(value unit\)"),
        ("cron(0 12 * * ? *)", r"not cron\(...\) or at\(...\)"),
        ("at(2030-01-01T00:00:00)", r"not cron\(...\) or at\(...\)"),
    ],
)
def test_expressions_eventbridge_rejects_or_only_cron_accepts_are_refused(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        rate_interval_s(expression)


def test_a_cron_schedule_is_refused_naming_function_event_and_expression() -> None:
    document = _function_with_events({"Nightly": {"Type": "Schedule", "Properties": {"Schedule": "cron(0 3 * * ? *)"}}})
    with pytest.raises(
        TemplateError, match=r"F\.Events\.Nightly: schedule 'cron\(0 3 \* \* \? \*\)' is not supported locally"
    ):
        parse_template(document, Path("template.yaml"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"Type": "Schedule", "Properties": {"Schedule": "rate(1 hour)", "Enabled": False, "State": "DISABLED"}},
            "not both",
        ),
        ({"Type": "Schedule", "Properties": {"Schedule": "rate(1 hour)", "State": "PAUSED"}}, "State must be one of"),
        ({"Type": "ScheduleV2", "Properties": {"Schedule": "rate(1 hour)"}}, "needs ScheduleExpression"),
        ({"Type": "Schedule", "Properties": {"Schedule": {"Ref": "Rate"}}}, "needs Schedule as a literal string"),
    ],
)
def test_malformed_schedule_events_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=rf"F\.Events\.Every.*{message}"):
        parse_template(_function_with_events({"Every": body}), Path("template.yaml"))


def test_schedule_events_carry_interval_state_input_and_properties() -> None:
    tick, failing, paused = load_template(FIXTURES / "schedule.yaml").functions["TickerFunction"].events
    assert tick == ScheduleEvent(
        "Tick",
        "Schedule",
        "rate(1 minute)",
        60,
        {"Schedule": "rate(1 minute)", "Description": "The scheduled event, as a rule sends it."},
    )
    assert isinstance(failing, ScheduleEvent)
    assert (failing.interval_s, failing.enabled, failing.input) == (7200, True, '{"fail": true}')
    assert isinstance(paused, ScheduleEvent)
    assert (paused.type, paused.interval_s, paused.enabled, paused.properties["GroupName"]) == (
        "ScheduleV2",
        604800,
        False,
        "fixtures",
    )


def test_repository_promotion_controller_runs_every_five_minutes() -> None:
    controller = load_template(REPOSITORY_TEMPLATE).functions["PromotionControllerFunction"]
    schedules = [event for event in controller.events if isinstance(event, ScheduleEvent)]
    assert [(event.interval_s, event.enabled, event.input) for event in schedules] == [(300, True, None)]
