"""What CloudFormation receives: the template transformed by the SAM translator that the pinned aws-sam-cli uses.

The decision functions' events call the alias of their latest published version (what SnapStart restores), and
every role, SAM's expansions of the policy templates included, grants data only on the resources it names.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.deploy.sam_cli import TEMPLATE, sam_python_command
from tests.integration.deploy.test_template import DATA_SERVICES, DECISION_FUNCTIONS, as_list

TRANSFORM_SCRIPT = Path(__file__).resolve().parent / "sam_transform.py"
ALIAS = "live"
# The managed policies SAM attaches by itself: logs, traces, VPC network interfaces and event source polling.
SAM_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}
ACCEPTED_TABLE, TRAFFIC_TABLE = "AcceptedTable", "TrafficTable"
# What each function may do on the accepted store: a decision is a transaction of conditional puts and is read
# back for a replay; the writer marks poison bundles (an update) and reads; every other function only adds bundles.
ACCEPTED_STORE_RIGHTS = {
    "DecisionApiFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"},
    "DecisionQueueFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"},
    "AuditWriterFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan"},
    "GovernanceApiFunction": {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Scan"},
    "AuditPurgeFunction": {
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
    },
}
ACCEPT_EVENTS_ONLY = {"dynamodb:PutItem"}
TRAFFIC_PLAN_RIGHTS = {
    "LifecycleApiFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "PromotionControllerFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "TrainingQueueFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
}
TRAFFIC_PLAN_READS = {
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
    "dynamodb:PartiQLSelect",
}
# Every function reads and writes data encrypted with the stack's key, and may use that key alone.
DATA_KEY, DATA_KEY_USE = "DataKey", {"kms:Decrypt", "kms:GenerateDataKey"}
# Actions without resource-level permissions: they can only be granted on "*".
UNSCOPED_ACTIONS = {"cloudwatch:GetMetricData"}

Resources = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> Resources:
    output = tmp_path_factory.mktemp("transformed") / "template.json"
    command = [*sam_python_command(), str(TRANSFORM_SCRIPT), str(TEMPLATE), str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    resources: Resources = json.loads(output.read_text(encoding="utf-8"))["Resources"]
    return resources


def of_type(resources: Resources, kind: str) -> Resources:
    return {name: body for name, body in resources.items() if body["Type"] == kind}


def mentions(value: Any, logical_id: str) -> bool:
    """Whether a value refers to the resource (`Ref`, `Fn::GetAtt`, or a `${...}` of `Fn::Sub`)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        if "Fn::GetAtt" in value and as_list(value["Fn::GetAtt"])[0] == logical_id:
            return True
        return any(mentions(item, logical_id) for item in value.values())
    if isinstance(value, list):
        return any(mentions(item, logical_id) for item in value)
    return isinstance(value, str) and f"${{{logical_id}" in value


def role_statements(resources: Resources, function_id: str) -> list[dict[str, Any]]:
    """Every statement of a function's role: its inline policies and the template's managed policies it has."""
    role = resources[f"{function_id}Role"]["Properties"]
    found = [s for policy in role.get("Policies") or [] for s in policy["PolicyDocument"]["Statement"]]
    for arn in role.get("ManagedPolicyArns") or []:
        if isinstance(arn, dict) and arn.get("Ref") in resources:
            found += resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    return found


def actions_on(resources: Resources, function_id: str, table: str) -> set[str]:
    return {
        str(action)
        for statement in role_statements(resources, function_id)
        if statement["Effect"] == "Allow" and mentions(statement.get("Resource"), table)
        for action in as_list(statement["Action"])
    }


def functions(resources: Resources) -> list[str]:
    return sorted(of_type(resources, "AWS::Lambda::Function"))


def test_decision_functions_run_python_312_with_snap_start(transformed: Resources) -> None:
    for function_id in functions(transformed):
        assert transformed[function_id]["Properties"]["Runtime"] == "python3.12", function_id
    for function_id in DECISION_FUNCTIONS:
        assert transformed[function_id]["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        alias = transformed[f"{function_id}Alias{ALIAS}"]
        version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        assert transformed[version_id]["Type"] == "AWS::Lambda::Version"
        assert transformed[version_id]["Properties"]["FunctionName"] == {"Ref": function_id}


def test_decision_events_invoke_the_alias_that_snap_start_restores(transformed: Resources) -> None:
    alias = f"DecisionApiFunctionAlias{ALIAS}"
    (api,) = of_type(transformed, "AWS::ApiGateway::RestApi").values()
    decision_routes = [
        operation["x-amazon-apigateway-integration"]["uri"]
        for path, methods in api["Properties"]["Body"]["paths"].items()
        if path.startswith("/v1/decisions/{id}") and path.count("/") == 3
        for operation in methods.values()
    ]
    assert len(decision_routes) == 2
    assert all(f"${{{alias}}}/invocations" in json.dumps(uri) for uri in decision_routes)
    permissions = [
        body["Properties"]["FunctionName"]
        for name, body in of_type(transformed, "AWS::Lambda::Permission").items()
        if name.startswith("DecisionApiFunction")
    ]
    assert permissions and all(target == {"Ref": alias} for target in permissions)
    (mapping,) = (
        body["Properties"]
        for body in of_type(transformed, "AWS::Lambda::EventSourceMapping").values()
        if mentions(body["Properties"]["EventSourceArn"], "DecisionQueue")
    )
    assert mapping["FunctionName"] == {"Ref": f"DecisionQueueFunctionAlias{ALIAS}"}


def test_the_audit_writer_reads_the_accepted_stream(transformed: Resources) -> None:
    (mapping,) = (
        body["Properties"]
        for body in of_type(transformed, "AWS::Lambda::EventSourceMapping").values()
        if body["Properties"]["FunctionName"] == {"Ref": "AuditWriterFunction"}
    )
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [ACCEPTED_TABLE, "StreamArn"]}
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["AuditWriterFailureQueue", "Arn"]
    }
    (pattern,) = (json.loads(entry["Pattern"]) for entry in mapping["FilterCriteria"]["Filters"])
    assert pattern["eventName"] == ["INSERT"]


def test_roles_carry_only_the_execution_policies_sam_adds_and_the_templates_own(transformed: Resources) -> None:
    for function_id in functions(transformed):
        for arn in transformed[f"{function_id}Role"]["Properties"].get("ManagedPolicyArns") or []:
            if isinstance(arn, dict):
                assert transformed[arn["Ref"]]["Type"] == "AWS::IAM::ManagedPolicy", function_id
            else:
                assert arn in SAM_MANAGED_POLICIES, f"{function_id}: {arn}"


def test_every_statement_of_every_role_names_its_data(transformed: Resources) -> None:
    roles = [
        name.removesuffix("Role") for name in of_type(transformed, "AWS::IAM::Role") if name.endswith("FunctionRole")
    ]
    assert sorted(roles) == functions(transformed)
    for function_id in roles:
        for statement in role_statements(transformed, function_id):
            actions = [str(action) for action in as_list(statement["Action"])]
            assert not any(action == "*" or action.endswith(":*") for action in actions), (function_id, statement)
            if "*" in as_list(statement.get("Resource")):
                assert set(actions) <= UNSCOPED_ACTIONS, (function_id, statement)
                assert not any(action.split(":")[0] in DATA_SERVICES for action in actions)


def test_rights_on_the_accepted_store_are_what_each_function_does_there(transformed: Resources) -> None:
    granted = {
        function_id: actions_on(transformed, function_id, ACCEPTED_TABLE) for function_id in functions(transformed)
    }
    expected = {function_id: ACCEPTED_STORE_RIGHTS.get(function_id, ACCEPT_EVENTS_ONLY) for function_id in granted}
    assert granted == expected
    # Only the purge deletes what is accepted (past its use case's retention); besides it, only the writer changes a
    # bundle (to set a poison aside).
    deleting = {function_id for function_id, actions in granted.items() if "dynamodb:DeleteItem" in actions}
    assert deleting == {"AuditPurgeFunction"}


def test_traffic_plans_are_published_by_the_lifecycle_and_read_by_the_decision_functions(
    transformed: Resources,
) -> None:
    granted = {
        function_id: actions_on(transformed, function_id, TRAFFIC_TABLE) for function_id in functions(transformed)
    }
    for function_id, actions in granted.items():
        if function_id in TRAFFIC_PLAN_RIGHTS:
            assert actions == TRAFFIC_PLAN_RIGHTS[function_id], function_id
        elif function_id in DECISION_FUNCTIONS:
            assert actions and actions <= TRAFFIC_PLAN_READS, (function_id, actions)
        else:
            assert actions == set(), function_id


def test_every_role_may_use_the_data_key_and_no_other(transformed: Resources) -> None:
    for function_id in functions(transformed):
        kms = [
            statement
            for statement in role_statements(transformed, function_id)
            if any(str(action).startswith("kms:") for action in as_list(statement["Action"]))
        ]
        assert {str(action) for statement in kms for action in as_list(statement["Action"])} == DATA_KEY_USE
        assert all(statement["Resource"] == {"Fn::GetAtt": [DATA_KEY, "Arn"]} for statement in kms), function_id
