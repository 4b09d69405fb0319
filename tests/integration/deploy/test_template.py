"""Deployment rules that `template.yaml` must keep, read from the template itself.

Each rule returns the violations it finds, so the same rule is checked against the real template (no
violation) and against a copy broken on purpose (the violation is reported).
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from cfnlint.decode import decode

from tests.support.paths import REPOSITORY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO_ROOT = REPOSITORY
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
SHARED_API = "LeaimApi"
BATCH_EVENT_TYPES = {"SQS", "Kinesis", "DynamoDB"}
# Lambda's advice for SQS event sources: room for retries of a throttled batch before a message reappears.
VISIBILITY_TIMEOUT_FACTOR = 6
# What CloudFormation and SAM use when the template says nothing.
SQS_DEFAULT_VISIBILITY_TIMEOUT_S = 30
SQS_DEFAULT_RETENTION_S = 345_600
LAMBDA_DEFAULT_TIMEOUT_S = 3

Template = dict[str, Any]


def load_template() -> Template:
    """The template as plain data, with short tags (`!Ref`, `!GetAtt`...) in their long form."""
    document, problems = decode(str(TEMPLATE_PATH))
    assert not problems, [str(problem) for problem in problems]
    return json.loads(json.dumps(document))


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of one type."""
    return {name: body for name, body in template["Resources"].items() if body["Type"] == resource_type}


def function_property(template: Template, function: dict[str, Any], name: str, default: Any = None) -> Any:
    """A function property, falling back to `Globals.Function` as SAM does for scalars."""
    globals_ = template.get("Globals", {}).get("Function", {})
    return function["Properties"].get(name, globals_.get(name, default))


def function_events(template: Template) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(function id, event name, event) for every event of every function."""
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        for event_name, event in (function["Properties"].get("Events") or {}).items():
            yield function_id, event_name, event


def get_att_target(value: Any, attribute: str) -> str | None:
    """The logical id in `{"Fn::GetAtt": [id, attribute]}`, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == attribute:
        return str(value["Fn::GetAtt"][0])
    return None


def dead_letter_targets(template: Template) -> dict[str, str]:
    """Source queue id -> id of the queue its RedrivePolicy sends dead letters to."""
    targets = {}
    for queue_id, queue in resources_of_type(template, "AWS::SQS::Queue").items():
        redrive = queue["Properties"].get("RedrivePolicy")
        if redrive:
            target = get_att_target(redrive.get("deadLetterTargetArn"), "Arn")
            if target:
                targets[queue_id] = target
    return targets


def batch_events_report_item_failures(template: Template) -> list[str]:
    """A failed record must not make Lambda retry (and re-apply) the records of its batch that succeeded."""
    return [
        f"{function_id}.{event_name}: {event['Type']} event without FunctionResponseTypes [ReportBatchItemFailures]"
        for function_id, event_name, event in function_events(template)
        if event["Type"] in BATCH_EVENT_TYPES
        and "ReportBatchItemFailures" not in (event["Properties"].get("FunctionResponseTypes") or [])
    ]


def queues_have_dead_letter_queues(template: Template) -> list[str]:
    """Every queue that is not itself a DLQ redrives to a queue of this template."""
    queues = resources_of_type(template, "AWS::SQS::Queue")
    targets = dead_letter_targets(template)
    dead_letter_queues = set(targets.values())
    violations = [
        f"{queue_id}: no RedrivePolicy to a dead-letter queue of this template"
        for queue_id in queues
        if queue_id not in dead_letter_queues and targets.get(queue_id) not in queues
    ]
    for source, target in targets.items():
        if target in queues and retention_s(queues[target]) <= retention_s(queues[source]):
            # A standard queue keeps a message's first enqueue time: a DLQ that keeps it no longer drops it.
            violations.append(f"{source}: dead-letter queue {target} does not keep messages longer than {source}")
    return violations


def retention_s(queue: dict[str, Any]) -> int:
    """How long a queue keeps a message."""
    return int(queue["Properties"].get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION_S))


def lowest_number(template: Template, value: Any) -> int:
    """The smallest value a property can take: a literal, or the least its parameter lets a deployment pass."""
    if isinstance(value, dict) and list(value) == ["Ref"]:
        parameter = template["Parameters"][value["Ref"]]
        return int(parameter.get("MinValue", parameter["Default"]))
    return int(value)


def visibility_covers_function_timeout(template: Template) -> list[str]:
    """A queue must not hand a message to a second consumer while the first may still be working on it."""
    queues = resources_of_type(template, "AWS::SQS::Queue")
    functions = resources_of_type(template, "AWS::Serverless::Function")
    violations = []
    for function_id, event_name, event in function_events(template):
        if event["Type"] != "SQS":
            continue
        queue_id = get_att_target(event["Properties"].get("Queue"), "Arn")
        if queue_id not in queues:
            violations.append(f"{function_id}.{event_name}: Queue is not !GetAtt <queue of this template>.Arn")
            continue
        timeout = int(function_property(template, functions[function_id], "Timeout", LAMBDA_DEFAULT_TIMEOUT_S))
        visibility = lowest_number(
            template, queues[queue_id]["Properties"].get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT_S)
        )
        if visibility < VISIBILITY_TIMEOUT_FACTOR * timeout:
            violations.append(
                f"{queue_id}: VisibilityTimeout {visibility} s < {VISIBILITY_TIMEOUT_FACTOR} x "
                f"{function_id} timeout {timeout} s"
            )
    return violations


def api_events_use_shared_api(template: Template) -> list[str]:
    """One REST API, one stage, one set of throttling settings for every route."""
    return [
        f"{function_id}.{event_name}: Api event not on RestApiId !Ref {SHARED_API}"
        for function_id, event_name, event in function_events(template)
        if event["Type"] == "Api" and event["Properties"].get("RestApiId") != {"Ref": SHARED_API}
    ]


def api_paths_are_deployable(template: Template) -> list[str]:
    """API Gateway REST allows one route per method and path, and one variable name per path level."""
    violations = []
    routes: dict[tuple[str, str], str] = {}
    variables: dict[str, tuple[str, str]] = {}
    for function_id, event_name, event in function_events(template):
        if event["Type"] != "Api":
            continue
        where = f"{function_id}.{event_name}"
        path, method = str(event["Properties"]["Path"]), str(event["Properties"]["Method"]).upper()
        if (path, method) in routes:
            violations.append(f"{where}: {method} {path} is already routed by {routes[path, method]}")
        routes[path, method] = where
        parent = ""
        for segment in path.strip("/").split("/"):
            if re.fullmatch(r"\{[^}]+\}", segment):
                seen, seen_where = variables.setdefault(parent, (segment, where))
                if seen != segment:
                    violations.append(f"{where}: {parent}/{segment} conflicts with {parent}/{seen} of {seen_where}")
            parent = f"{parent}/{segment}"
    return violations


def handler_modules_exist(template: Template) -> list[str]:
    """`sam build` packs CodeUri; the runtime imports the handler's module from it."""
    violations = []
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        code_uri = REPO_ROOT / str(function_property(template, function, "CodeUri"))
        handler = str(function_property(template, function, "Handler"))
        module, _, attribute = handler.rpartition(".")
        module_path = code_uri.joinpath(*module.split("."))
        if not (module and attribute):
            violations.append(f"{function_id}: Handler {handler!r} is not module.attribute")
        elif not (module_path.with_suffix(".py").is_file() or (module_path / "__init__.py").is_file()):
            violations.append(f"{function_id}: handler module {module!r} not found under {code_uri}")
    return violations


def no_full_access_policies(template: Template) -> list[str]:
    """Least privilege: SAM policy templates scoped to one resource, never `*FullAccess` or wildcard actions."""
    violations = []
    for resource_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        policies = list(properties.get("Policies") or []) + list(properties.get("ManagedPolicyArns") or [])
        for policy in policies:
            if isinstance(policy, str) and policy.endswith("FullAccess"):
                violations.append(f"{resource_id}: managed policy {policy}")
            if isinstance(policy, dict):
                for statement in policy.get("Statement", []):
                    actions = statement.get("Action", [])
                    for action in [actions] if isinstance(actions, str) else actions:
                        if isinstance(action, str) and (action == "*" or action.endswith(":*")):
                            violations.append(f"{resource_id}: wildcard action {action}")
    return violations


def queue_function_agrees_with_redrive(template: Template) -> list[str]:
    """The decision consumer dead-letters a message itself on its last receive: it must know the queue's policy."""
    functions = resources_of_type(template, "AWS::Serverless::Function")
    queues = resources_of_type(template, "AWS::SQS::Queue")
    targets = dead_letter_targets(template)
    violations = []
    for function_id, event_name, event in function_events(template):
        variables = (functions[function_id]["Properties"].get("Environment") or {}).get("Variables") or {}
        if event["Type"] != "SQS" or "LEAIM_DECISION_DLQ_URL" not in variables:
            continue
        queue_id = get_att_target(event["Properties"].get("Queue"), "Arn")
        if queue_id not in queues or queue_id not in targets:
            violations.append(f"{function_id}.{event_name}: consumes a queue without a dead-letter queue")
            continue
        if variables["LEAIM_DECISION_DLQ_URL"] != {"Ref": targets[queue_id]}:
            violations.append(f"{function_id}: LEAIM_DECISION_DLQ_URL is not !Ref {targets[queue_id]}")
        max_receive = str(queues[queue_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"])
        if str(variables.get("LEAIM_DECISION_MAX_RECEIVE_COUNT")) != max_receive:
            violations.append(f"{function_id}: LEAIM_DECISION_MAX_RECEIVE_COUNT is not {queue_id}'s {max_receive}")
    return violations


RULES = [
    batch_events_report_item_failures,
    queues_have_dead_letter_queues,
    visibility_covers_function_timeout,
    api_events_use_shared_api,
    api_paths_are_deployable,
    handler_modules_exist,
    no_full_access_policies,
    queue_function_agrees_with_redrive,
]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_template_keeps_rule(template: Template, rule: Callable[[Template], list[str]]) -> None:
    assert rule(template) == []


def _resource(template: Template, logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]


def _event(template: Template, function_id: str, event_name: str) -> dict[str, Any]:
    return _resource(template, function_id)["Properties"]["Events"][event_name]


def _drop_response_types(template: Template) -> None:
    del _event(template, "DecisionQueueFunction", "DecisionRequests")["Properties"]["FunctionResponseTypes"]


def _drop_redrive(template: Template) -> None:
    del _resource(template, "DecisionResultsQueue")["Properties"]["RedrivePolicy"]


def _shorten_dead_letter_retention(template: Template) -> None:
    _resource(template, "DecisionDeadLetterQueue")["Properties"]["MessageRetentionPeriod"] = 345_600


def _shorten_visibility(template: Template) -> None:
    queue = _resource(template, "DecisionQueue")["Properties"]
    queue["VisibilityTimeout"] = VISIBILITY_TIMEOUT_FACTOR * int(template["Globals"]["Function"]["Timeout"]) - 1


def _lower_visibility_parameter_minimum(template: Template) -> None:
    template["Parameters"]["DecisionQueueVisibilityTimeout"]["MinValue"] = 1


def _lengthen_function_timeout(template: Template) -> None:
    _resource(template, "DecisionQueueFunction")["Properties"]["Timeout"] = 900


def _implicit_api(template: Template) -> None:
    del _event(template, "DecisionApiFunction", "CreateDecision")["Properties"]["RestApiId"]


def _sibling_path_variables(template: Template) -> None:
    _event(template, "DecisionApiFunction", "GetDecision")["Properties"]["Path"] = "/v1/decisions/{decision_id}"


def _duplicate_route(template: Template) -> None:
    events = _resource(template, "DecisionApiFunction")["Properties"]["Events"]
    events["CreateDecisionAgain"] = copy.deepcopy(events["CreateDecision"])


def _missing_handler_module(template: Template) -> None:
    _resource(template, "DecisionApiFunction")["Properties"]["Handler"] = "handler.app"


def _full_access_policy(template: Template) -> None:
    _resource(template, "DecisionQueueFunction")["Properties"]["Policies"].append("AmazonSQSFullAccess")


def _wildcard_action(template: Template) -> None:
    statement = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    _resource(template, "DecisionApiFunction")["Properties"]["Policies"].append({"Statement": [statement]})


def _receive_count_drift(template: Template) -> None:
    _resource(template, "DecisionQueue")["Properties"]["RedrivePolicy"]["maxReceiveCount"] = 5


BREAKAGES = [
    (batch_events_report_item_failures, _drop_response_types, "DecisionQueueFunction.DecisionRequests"),
    (queues_have_dead_letter_queues, _drop_redrive, "DecisionResultsQueue"),
    (queues_have_dead_letter_queues, _shorten_dead_letter_retention, "DecisionDeadLetterQueue"),
    (visibility_covers_function_timeout, _shorten_visibility, "DecisionQueue"),
    (visibility_covers_function_timeout, _lower_visibility_parameter_minimum, "VisibilityTimeout 1 s"),
    (visibility_covers_function_timeout, _lengthen_function_timeout, "DecisionQueueFunction timeout 900"),
    (api_events_use_shared_api, _implicit_api, "DecisionApiFunction.CreateDecision"),
    (api_paths_are_deployable, _sibling_path_variables, "{decision_id}"),
    (api_paths_are_deployable, _duplicate_route, "already routed"),
    (handler_modules_exist, _missing_handler_module, "'handler'"),
    (no_full_access_policies, _full_access_policy, "AmazonSQSFullAccess"),
    (no_full_access_policies, _wildcard_action, "dynamodb:*"),
    (queue_function_agrees_with_redrive, _receive_count_drift, "LEAIM_DECISION_MAX_RECEIVE_COUNT"),
]


@pytest.mark.parametrize(("rule", "breakage", "expected"), BREAKAGES, ids=lambda value: getattr(value, "__name__", ""))
def test_rule_reports_a_broken_template(
    template: Template,
    rule: Callable[[Template], list[str]],
    breakage: Callable[[Template], None],
    expected: str,
) -> None:
    broken = copy.deepcopy(template)
    breakage(broken)
    violations = rule(broken)
    assert any(expected in violation for violation in violations), violations


def test_function_timeouts_come_from_globals(template: Template) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.11"
    assert isinstance(globals_["Timeout"], int)
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        assert "Runtime" not in function["Properties"], f"{function_id} overrides the Globals runtime"


def test_layers_are_built_from_the_repository(template: Template) -> None:
    contracts = _resource(template, "ContractsLayer")
    assert contracts["Metadata"] == {"BuildMethod": "makefile", "WorkingDirectory": "./"}
    assert (REPO_ROOT / contracts["Properties"]["ContentUri"] / "Makefile").is_file()
    core = _resource(template, "CoreLayer")
    assert core["Metadata"] == {"BuildMethod": "python3.11"}
    # sam copies the folder as it is: it must hold the one package it ships and nothing else.
    assert sorted(path.name for path in (REPO_ROOT / core["Properties"]["ContentUri"]).iterdir()) == ["leaim"]
    dependencies = _resource(template, "DependenciesLayer")
    assert dependencies["Metadata"] == {"BuildMethod": "python3.11"}
    assert (REPO_ROOT / dependencies["Properties"]["ContentUri"] / "requirements.txt").is_file()
