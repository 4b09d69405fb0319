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
# Lambda SnapStart for Python needs python3.12 or newer.
OLDEST_RUNTIME = (3, 12)
DECISION_FUNCTIONS = ("DecisionApiFunction", "DecisionQueueFunction")
# The functions that read or write the SQL store (hash chains, registry, training jobs): the decision and ingest
# functions answer without it.
SQL_FUNCTIONS = {
    "AuditWriterFunction",
    "GovernanceApiFunction",
    "LifecycleApiFunction",
    "PromotionControllerFunction",
    "RetrainingScheduleFunction",
    "TrainingQueueFunction",
    "DriftMonitorFunction",
    "AbuseMonitorFunction",
    "AuditDigestFunction",
    "AuditPurgeFunction",
}
DATABASE_SETTINGS = ("LEAIM_DATABASE_HOST", "LEAIM_DATABASE_PORT", "LEAIM_DATABASE_NAME", "LEAIM_DATABASE_USER")
GATEWAY_ENDPOINT_SERVICES = ("dynamodb", "s3")
INTERFACE_ENDPOINT_SERVICES = ("sqs", "secretsmanager")
ANYWHERE = "0.0.0.0/0"
HTTPS, POSTGRES = 443, 5432
# Services whose actions always name the resources they act on: a statement never grants them on "*".
DATA_SERVICES = ("dynamodb", "s3", "sqs", "kinesis", "secretsmanager", "rds-db", "rds", "kms")
# A setting named for a password, a token or a key (not the ARN of the secret holding one), and a URL carrying
# credentials (scheme://user:password@host).
CREDENTIAL_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|(?<![A-Z])KEY(?![A-Z])")
SECRET_LOCATION_SUFFIX = "_SECRET_ARN"
CREDENTIAL_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
# Values that are secrets whatever their setting is called: a private key, an AWS access key id, and a long random
# token (letters, digits and symbols of base64 or hex, mixing at least three kinds of character).
SECRET_VALUE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
TOKEN_VALUE = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
TOKEN_CHARACTER_KINDS = (str.islower, str.isupper, str.isdigit, lambda c: c in "+/=_-")
# Lambda's stream retries, the largest finite count; -1 retries a failing batch until its records expire.
MAX_STREAM_RETRIES = 10_000
AUDIT_WRITER = "AuditWriterFunction"
INGEST_STREAM_EVENT = "IngestRecords"

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


def ref_target(value: Any) -> str | None:
    """The name in `{"Ref": name}`, else None."""
    if isinstance(value, dict) and list(value) == ["Ref"] and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def environment(template: Template, function: dict[str, Any]) -> dict[str, Any]:
    """A function's environment variables, `Globals.Function` merged in as SAM merges them."""
    globals_ = ((template.get("Globals", {}).get("Function", {}).get("Environment") or {}).get("Variables")) or {}
    return {**globals_, **((function["Properties"].get("Environment") or {}).get("Variables") or {})}


def statements(template: Template, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement a function or role is granted by the template itself.

    Inline `Statement` policies, the policy documents of the template's managed policies it refers to, and a
    role's inline policies; SAM policy templates (`DynamoDBReadPolicy: ...`) are expanded by SAM, not here.
    """
    properties = resource.get("Properties", {})
    documents = [policy for policy in properties.get("Policies") or [] if isinstance(policy, dict)]
    found: list[dict[str, Any]] = []
    for policy in documents:
        target = ref_target(policy)
        if target in template["Resources"]:
            document = template["Resources"][target]["Properties"]["PolicyDocument"]
        else:
            document = policy.get("PolicyDocument", policy)
        found += document.get("Statement", [])
    for arn in properties.get("ManagedPolicyArns") or []:
        target = ref_target(arn)
        if target in template["Resources"]:
            found += template["Resources"][target]["Properties"]["PolicyDocument"]["Statement"]
    if resource.get("Type") == "AWS::IAM::ManagedPolicy":
        found += properties["PolicyDocument"]["Statement"]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(template: Template, function: dict[str, Any], action: str) -> bool:
    """Whether the template's own statements allow the function `action`."""
    return any(
        statement.get("Effect") == "Allow" and action in as_list(statement.get("Action", []))
        for statement in statements(template, function)
    )


def route_table_of(template: Template, subnet_id: str) -> str | None:
    """The route table associated with a subnet."""
    for association in resources_of_type(template, "AWS::EC2::SubnetRouteTableAssociation").values():
        if ref_target(association["Properties"].get("SubnetId")) == subnet_id:
            return ref_target(association["Properties"].get("RouteTableId"))
    return None


def default_route(template: Template, route_table_id: str | None) -> dict[str, Any]:
    """The properties of a route table's route to anywhere, or an empty mapping."""
    for route in resources_of_type(template, "AWS::EC2::Route").values():
        properties = route["Properties"]
        if (
            ref_target(properties.get("RouteTableId")) == route_table_id
            and properties.get("DestinationCidrBlock") == ANYWHERE
        ):
            return dict(properties)
    return {}


def private_subnets(template: Template) -> set[str]:
    """Subnets whose way out is a NAT gateway: nothing on the internet can reach into them."""
    return {
        subnet_id
        for subnet_id in resources_of_type(template, "AWS::EC2::Subnet")
        if "NatGatewayId" in default_route(template, route_table_of(template, subnet_id))
    }


def subnet_zone(template: Template, subnet_id: str) -> str:
    """A subnet's Availability Zone as written (`!Select [i, !GetAZs ""]` compares as written)."""
    return json.dumps(template["Resources"][subnet_id]["Properties"].get("AvailabilityZone"), sort_keys=True)


def security_group_rules(template: Template, group_id: str, direction: str) -> list[dict[str, Any]]:
    """A group's inline rules and its standalone `AWS::EC2::SecurityGroup<Direction>` rules."""
    group = template["Resources"][group_id]["Properties"]
    rules = list(group.get(f"SecurityGroup{direction}") or [])
    for rule in resources_of_type(template, f"AWS::EC2::SecurityGroup{direction}").values():
        if ref_target(rule["Properties"].get("GroupId")) == group_id:
            rules.append(rule["Properties"])
    return rules


def admits(rule: dict[str, Any], port: int) -> bool:
    return rule.get("IpProtocol") in {"tcp", "-1"} and int(rule.get("FromPort", 0)) <= port <= int(
        rule.get("ToPort", 65535)
    )


def vpc_functions(template: Template) -> dict[str, dict[str, Any]]:
    """Logical id -> VpcConfig of every function that runs in a VPC."""
    return {
        function_id: function["Properties"]["VpcConfig"]
        for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items()
        if "VpcConfig" in function["Properties"]
    }


def function_security_groups(template: Template) -> set[str]:
    return {
        str(ref_target(group))
        for config in vpc_functions(template).values()
        for group in config.get("SecurityGroupIds") or []
    }


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a value, intrinsics included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)


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


def on_failure_destinations(template: Template) -> set[str]:
    """Queues that event source mappings record failed batches on: like dead-letter queues, nothing reads them."""
    return {
        str(
            get_att_target(
                ((event["Properties"].get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"), "Arn"
            )
        )
        for _, _, event in function_events(template)
        if event["Type"] in {"Kinesis", "DynamoDB"}
    }


def queues_have_dead_letter_queues(template: Template) -> list[str]:
    """Every queue that is not itself a DLQ (or an on-failure destination) redrives to a queue of this template."""
    queues = resources_of_type(template, "AWS::SQS::Queue")
    targets = dead_letter_targets(template)
    dead_letter_queues = set(targets.values()) | on_failure_destinations(template)
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


def runtimes_are_python_312_or_newer(template: Template) -> list[str]:
    """SnapStart needs python3.12+; the layers are built for, and declared compatible with, the functions' runtime."""
    violations = []
    runtimes = set()
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        runtime = str(function_property(template, function, "Runtime"))
        runtimes.add(runtime)
        if python_version(runtime) < OLDEST_RUNTIME:
            violations.append(f"{function_id}: runtime {runtime} is older than python3.12")
    for layer_id, layer in resources_of_type(template, "AWS::Serverless::LayerVersion").items():
        compatible = set(layer["Properties"].get("CompatibleRuntimes") or [])
        if not runtimes <= compatible:
            violations.append(
                f"{layer_id}: CompatibleRuntimes {sorted(compatible)} lack {sorted(runtimes - compatible)}"
            )
        build = str((layer.get("Metadata") or {}).get("BuildMethod", ""))
        if build.startswith("python") and {build} != runtimes:
            violations.append(f"{layer_id}: built for {build}, the functions run {', '.join(sorted(runtimes))}")
    return violations


def python_version(runtime: str) -> tuple[int, int]:
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def decision_functions_use_snap_start(template: Template) -> list[str]:
    """The decision functions start from a snapshot of their initialised container, restored for each version."""
    violations = []
    for function_id in DECISION_FUNCTIONS:
        properties = template["Resources"][function_id]["Properties"]
        if properties.get("SnapStart") != {"ApplyOn": "PublishedVersions"}:
            violations.append(f"{function_id}: no SnapStart: {{ApplyOn: PublishedVersions}}")
        if not properties.get("AutoPublishAlias"):
            # SnapStart applies to published versions only; without an alias the events call $LATEST.
            violations.append(f"{function_id}: SnapStart without AutoPublishAlias restores nothing that is called")
    return violations


def sql_functions_and_only_they_run_in_the_vpc(template: Template) -> list[str]:
    """A function reaching PostgreSQL runs in private subnets of two zones, knows the proxy, and may connect to it."""
    functions = resources_of_type(template, "AWS::Serverless::Function")
    in_vpc = set(vpc_functions(template))
    with_database = {
        function_id
        for function_id, function in functions.items()
        if set(DATABASE_SETTINGS) & set(environment(template, function))
    }
    connecting = {
        function_id for function_id, function in functions.items() if grants(template, function, "rds-db:connect")
    }
    violations = [f"{function_id}: not in a VPC" for function_id in sorted(SQL_FUNCTIONS - in_vpc)]
    violations += [
        f"{function_id}: in a VPC but talks to no database" for function_id in sorted(in_vpc - SQL_FUNCTIONS)
    ]
    violations += [
        f"{function_id}: database settings, but it is not one of the SQL functions"
        for function_id in sorted(with_database - SQL_FUNCTIONS)
    ]
    violations += [
        f"{function_id}: may connect to the database, but is not one of the SQL functions"
        for function_id in sorted(connecting - SQL_FUNCTIONS)
    ]
    private = private_subnets(template)
    proxies = resources_of_type(template, "AWS::RDS::DBProxy")
    for function_id in sorted(SQL_FUNCTIONS & set(functions)):
        function = functions[function_id]
        config = function["Properties"].get("VpcConfig") or {}
        subnets = [ref_target(subnet) for subnet in config.get("SubnetIds") or []]
        if not subnets or not set(subnets) <= private:
            violations.append(f"{function_id}: VpcConfig.SubnetIds {subnets} are not all private subnets")
        elif len({subnet_zone(template, str(subnet)) for subnet in subnets}) < 2:
            violations.append(f"{function_id}: its subnets are all in one Availability Zone")
        groups = [ref_target(group) for group in config.get("SecurityGroupIds") or []]
        if not groups or not set(groups) <= set(resources_of_type(template, "AWS::EC2::SecurityGroup")):
            violations.append(
                f"{function_id}: VpcConfig.SecurityGroupIds {groups} are not security groups of this template"
            )
        variables = environment(template, function)
        missing = [name for name in DATABASE_SETTINGS if name not in variables]
        if missing:
            violations.append(f"{function_id}: no {', '.join(missing)}")
        host = get_att_target(variables.get("LEAIM_DATABASE_HOST"), "Endpoint")
        if "LEAIM_DATABASE_HOST" in variables and host not in proxies:
            violations.append(f"{function_id}: LEAIM_DATABASE_HOST is not !GetAtt <RDS Proxy>.Endpoint")
        if not grants(template, function, "rds-db:connect"):
            violations.append(f"{function_id}: may not rds-db:connect")
    return violations


def database_proxy_requires_iam_and_tls(template: Template) -> list[str]:
    """Clients authenticate to the proxy with IAM tokens over TLS; only the proxy reads the generated password."""
    proxies = resources_of_type(template, "AWS::RDS::DBProxy")
    secrets = resources_of_type(template, "AWS::SecretsManager::Secret")
    clusters = resources_of_type(template, "AWS::RDS::DBCluster")
    private = private_subnets(template)
    if not proxies:
        return ["no AWS::RDS::DBProxy"]
    violations = []
    proxy_secrets: set[str] = set()
    for proxy_id, proxy in proxies.items():
        properties = proxy["Properties"]
        if properties.get("RequireTLS") is not True:
            violations.append(f"{proxy_id}: RequireTLS is not true")
        if not properties.get("Auth"):
            violations.append(f"{proxy_id}: no Auth")
        for auth in properties.get("Auth") or []:
            if auth.get("IAMAuth") != "REQUIRED":
                violations.append(f"{proxy_id}: IAMAuth is {auth.get('IAMAuth', 'DISABLED')}, not REQUIRED")
            secret_id = ref_target(auth.get("SecretArn"))
            generated = (secrets.get(str(secret_id), {}).get("Properties") or {}).get("GenerateSecretString") or {}
            if auth.get("AuthScheme") != "SECRETS" or generated.get("GenerateStringKey") != "password":
                violations.append(
                    f"{proxy_id}: credentials are not a secret of this template with a generated password"
                )
            proxy_secrets.add(str(secret_id))
        subnets = {ref_target(subnet) for subnet in properties.get("VpcSubnetIds") or []}
        if not subnets or not subnets <= private:
            violations.append(f"{proxy_id}: VpcSubnetIds are not all private subnets")
    targets = [
        (ref_target(group["Properties"].get("DBProxyName")), ref_target(cluster))
        for group in resources_of_type(template, "AWS::RDS::DBProxyTargetGroup").values()
        for cluster in group["Properties"].get("DBClusterIdentifiers") or []
    ]
    for proxy_id in proxies:
        if not any(proxy == proxy_id and cluster in clusters for proxy, cluster in targets):
            violations.append(f"{proxy_id}: no target group on a DB cluster of this template")
    for cluster_id, cluster in clusters.items():
        password = json.dumps(cluster["Properties"].get("MasterUserPassword"))
        if not any(
            f"{{{{resolve:secretsmanager:${{{secret}}}:SecretString:password}}}}" in password
            for secret in proxy_secrets
        ):
            violations.append(f"{cluster_id}: MasterUserPassword does not resolve from the proxy's secret")
        if cluster["Properties"].get("StorageEncrypted") is not True:
            violations.append(f"{cluster_id}: StorageEncrypted is not true")
        for group in cluster["Properties"].get("VpcSecurityGroupIds") or []:
            sources = {
                ref_target(rule.get("SourceSecurityGroupId")) or rule.get("CidrIp")
                for rule in security_group_rules(template, str(ref_target(group)), "Ingress")
            }
            proxy_groups = {
                ref_target(g)
                for proxy in proxies.values()
                for g in proxy["Properties"].get("VpcSecurityGroupIds") or []
            }
            if not sources or not sources <= proxy_groups:
                violations.append(
                    f"{cluster_id}: {ref_target(group)} admits {sorted(map(str, sources))}, not only the proxy"
                )
    for instance_id, instance in resources_of_type(template, "AWS::RDS::DBInstance").items():
        if instance["Properties"].get("PubliclyAccessible") is not False:
            violations.append(f"{instance_id}: PubliclyAccessible is not false")
    return violations


def no_credentials_in_environment(template: Template) -> list[str]:
    """Secrets live in Secrets Manager: no setting, parameter, URL or value of the template carries one.

    A function's environment holds at most the ARN of the secret it reads (`*_SECRET_ARN`); the SQL functions hold
    no database credential at all, since they authenticate to the RDS Proxy with IAM tokens.
    """
    violations = [
        f"Parameters.{name}: NoEcho parameters carry secrets into the template (use a Secrets Manager secret)"
        for name, parameter in template.get("Parameters", {}).items()
        if parameter.get("NoEcho") in {True, "true", "True"}
    ]
    scopes = [("Globals", template.get("Globals", {}).get("Function", {}))]
    scopes += [(id_, f["Properties"]) for id_, f in resources_of_type(template, "AWS::Serverless::Function").items()]
    for where, properties in scopes:
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        for name, value in variables.items():
            if CREDENTIAL_NAME.search(name.removesuffix(SECRET_LOCATION_SUFFIX)) and not name.endswith(
                SECRET_LOCATION_SUFFIX
            ):
                violations.append(f"{where}.{name}: a credential in an environment variable")
            for text in strings_in(value):
                if "{{resolve:" in text:
                    violations.append(f"{where}.{name}: a dynamic reference resolves a secret into the environment")
                if CREDENTIAL_URL.search(text):
                    violations.append(f"{where}.{name}: a URL with credentials")
                if SECRET_VALUE.search(text) or looks_like_a_token(text):
                    violations.append(f"{where}.{name}: a value that looks like a secret")
    return violations


def looks_like_a_token(text: str) -> bool:
    """A long run of base64 or hex characters mixing at least three kinds of character: a generated secret."""
    return any(
        sum(any(kind(character) for character in match.group()) for kind in TOKEN_CHARACTER_KINDS) >= 3
        for match in TOKEN_VALUE.finditer(text)
    )


def vpc_endpoints_serve_the_private_subnets(template: Template) -> list[str]:
    """DynamoDB and S3 through gateway endpoints, SQS and Secrets Manager through interface endpoints."""
    private = private_subnets(template)
    private_tables = {route_table_of(template, subnet) for subnet in private}
    endpoints = resources_of_type(template, "AWS::EC2::VPCEndpoint").values()
    violations = []

    def endpoint_of(service: str, kind: str) -> dict[str, Any] | None:
        name = {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"}
        return next(
            (
                e["Properties"]
                for e in endpoints
                if e["Properties"].get("ServiceName") == name and e["Properties"].get("VpcEndpointType") == kind
            ),
            None,
        )

    for service in GATEWAY_ENDPOINT_SERVICES:
        endpoint = endpoint_of(service, "Gateway")
        tables = {ref_target(table) for table in (endpoint or {}).get("RouteTableIds") or []}
        if endpoint is None or not private_tables <= tables:
            violations.append(f"{service}: no Gateway endpoint on every private route table")
    function_groups = function_security_groups(template)
    for service in INTERFACE_ENDPOINT_SERVICES:
        endpoint = endpoint_of(service, "Interface")
        if endpoint is None:
            violations.append(f"{service}: no Interface endpoint")
            continue
        if endpoint.get("PrivateDnsEnabled") is not True:
            violations.append(f"{service}: the endpoint's PrivateDnsEnabled is not true (SDKs would bypass it)")
        if not private <= {ref_target(subnet) for subnet in endpoint.get("SubnetIds") or []}:
            violations.append(f"{service}: the endpoint is not in every private subnet")
        admitted = {
            ref_target(rule.get("SourceSecurityGroupId"))
            for group in endpoint.get("SecurityGroupIds") or []
            for rule in security_group_rules(template, str(ref_target(group)), "Ingress")
            if admits(rule, HTTPS)
        }
        if not function_groups <= admitted:
            violations.append(f"{service}: the endpoint does not admit HTTPS from {sorted(function_groups - admitted)}")
    return violations


def private_subnets_reach_out_through_nat(template: Template) -> list[str]:
    """Modal (and AWS APIs without an endpoint) through a NAT gateway in the function's own zone, then the internet."""
    violations = []
    attached = {
        (ref_target(a["Properties"].get("VpcId")), ref_target(a["Properties"].get("InternetGatewayId")))
        for a in resources_of_type(template, "AWS::EC2::VPCGatewayAttachment").values()
    }
    nats = resources_of_type(template, "AWS::EC2::NatGateway")
    subnets = {
        str(ref_target(subnet))
        for config in vpc_functions(template).values()
        for subnet in config.get("SubnetIds") or []
    }
    for subnet_id in sorted(subnets):
        nat_id = ref_target(default_route(template, route_table_of(template, subnet_id)).get("NatGatewayId"))
        if nat_id not in nats:
            violations.append(f"{subnet_id}: no route to anywhere through a NAT gateway")
            continue
        public = str(ref_target(nats[nat_id]["Properties"].get("SubnetId")))
        gateway = ref_target(default_route(template, route_table_of(template, public)).get("GatewayId"))
        vpc = ref_target(template["Resources"][public]["Properties"].get("VpcId"))
        if (vpc, gateway) not in attached:
            violations.append(f"{nat_id}: its subnet {public} has no route to an internet gateway attached to its VPC")
        if subnet_zone(template, public) != subnet_zone(template, subnet_id):
            violations.append(f"{subnet_id}: its NAT gateway {nat_id} is in another Availability Zone")
    for group_id in sorted(function_security_groups(template)):
        if not any(
            admits(rule, HTTPS) and rule.get("CidrIp") == ANYWHERE
            for rule in security_group_rules(template, group_id, "Egress")
        ):
            violations.append(f"{group_id}: no HTTPS egress to anywhere (Modal)")
    return violations


def stream_events_bisect_retry_and_set_aside(template: Template) -> list[str]:
    """A failing stream batch is halved, retried a bounded number of times, then recorded on a queue of the template.

    The audit writer's stream is retried until its records expire instead: the writer sets a poison bundle aside
    itself, so a batch that still fails means the audit store is down, and giving up on it would leave accepted
    events out of the chains.
    """
    queues = resources_of_type(template, "AWS::SQS::Queue")
    functions = resources_of_type(template, "AWS::Serverless::Function")
    violations = []
    for function_id, event_name, event in function_events(template):
        if event["Type"] not in {"Kinesis", "DynamoDB"}:
            continue
        where, properties = f"{function_id}.{event_name}", event["Properties"]
        if properties.get("BisectBatchOnFunctionError") is not True:
            violations.append(f"{where}: BisectBatchOnFunctionError is not true")
        retries = int(properties.get("MaximumRetryAttempts", -1))
        if function_id == AUDIT_WRITER:
            if retries != -1:
                violations.append(f"{where}: MaximumRetryAttempts {retries} gives up on accepted events in an outage")
        elif not 0 <= retries <= MAX_STREAM_RETRIES:
            violations.append(f"{where}: MaximumRetryAttempts {retries} retries a poison batch until it expires")
        on_failure = (properties.get("DestinationConfig") or {}).get("OnFailure") or {}
        queue_id = get_att_target(on_failure.get("Destination"), "Arn")
        if queue_id not in queues:
            violations.append(f"{where}: DestinationConfig.OnFailure is not !GetAtt <queue of this template>.Arn")
            continue
        may_send = on_failure.get("Type") == "SQS" or any(
            isinstance(policy, dict)
            and (policy.get("SQSSendMessagePolicy") or {}).get("QueueName") == {"Fn::GetAtt": [queue_id, "QueueName"]}
            for policy in functions[function_id]["Properties"].get("Policies") or []
        )
        if not may_send:
            violations.append(f"{where}: the function may not send to its on-failure queue {queue_id}")
    return violations


def data_actions_name_their_resources(template: Template) -> list[str]:
    """Data is granted on the resources it lives in: no statement allows a data service's action on "*"."""
    violations = []
    for resource_id, resource in template["Resources"].items():
        for statement in statements(template, resource):
            resources = as_list(statement.get("Resource", []))
            if "*" not in resources:
                continue
            for action in as_list(statement.get("Action", [])):
                if str(action).split(":")[0] in DATA_SERVICES:
                    violations.append(f"{resource_id}: {action} on {resources}")
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
    runtimes_are_python_312_or_newer,
    decision_functions_use_snap_start,
    sql_functions_and_only_they_run_in_the_vpc,
    database_proxy_requires_iam_and_tls,
    no_credentials_in_environment,
    vpc_endpoints_serve_the_private_subnets,
    private_subnets_reach_out_through_nat,
    stream_events_bisect_retry_and_set_aside,
    data_actions_name_their_resources,
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


def _set(logical_id: str, key: str, value: Any) -> Callable[[Template], None]:
    """A breakage that sets one property of a resource (a `None` value removes it)."""

    def breakage(template: Template) -> None:
        properties = _resource(template, logical_id)["Properties"]
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = copy.deepcopy(value)

    breakage.__name__ = f"_{logical_id}_{key}_{'removed' if value is None else 'changed'}"
    return breakage


def _old_runtime(template: Template) -> None:
    template["Globals"]["Function"]["Runtime"] = "python3.11"


def _layer_built_for_another_runtime(template: Template) -> None:
    _resource(template, "DependenciesLayer")["Metadata"]["BuildMethod"] = "python3.11"


def _decision_function_in_the_vpc(template: Template) -> None:
    vpc = copy.deepcopy(_resource(template, "AuditDigestFunction")["Properties"]["VpcConfig"])
    _resource(template, "DecisionApiFunction")["Properties"]["VpcConfig"] = vpc


def _database_settings_for_every_function(template: Template) -> None:
    host = {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    template["Globals"]["Function"]["Environment"]["Variables"]["LEAIM_DATABASE_HOST"] = host


def _public_subnets(template: Template) -> None:
    config = _resource(template, "GovernanceApiFunction")["Properties"]["VpcConfig"]
    config["SubnetIds"] = [{"Ref": "PublicSubnetA"}, {"Ref": "PublicSubnetB"}]


def _one_zone(template: Template) -> None:
    config = _resource(template, "GovernanceApiFunction")["Properties"]["VpcConfig"]
    config["SubnetIds"] = [{"Ref": "PrivateSubnetA"}]


def _no_connect_policy(template: Template) -> None:
    _resource(template, "TrainingQueueFunction")["Properties"]["Policies"].remove({"Ref": "DatabaseConnectPolicy"})


def _proxy_iam_optional(template: Template) -> None:
    _resource(template, "DatabaseProxy")["Properties"]["Auth"][0]["IAMAuth"] = "DISABLED"


def _password_written_in_the_template(template: Template) -> None:
    _resource(template, "DatabaseCluster")["Properties"]["MasterUserPassword"] = "correct-horse-battery"


def _database_open_to_the_vpc(template: Template) -> None:
    rule = {"IpProtocol": "tcp", "FromPort": POSTGRES, "ToPort": POSTGRES, "CidrIp": "10.80.0.0/16"}
    _resource(template, "DatabaseSecurityGroup")["Properties"]["SecurityGroupIngress"] = [rule]


def _lifecycle_variables(template: Template) -> dict[str, Any]:
    variables: dict[str, Any] = _resource(template, "LifecycleApiFunction")["Properties"]["Environment"]["Variables"]
    return variables


def _password_setting(template: Template) -> None:
    _lifecycle_variables(template)["LEAIM_DATABASE_PASSWORD"] = {"Ref": "DatabaseUser"}


def _url_with_credentials(template: Template) -> None:
    url = {"Fn::Sub": "postgresql://leaim:${DatabaseUser}@db.internal:5432/leaim"}
    _lifecycle_variables(template)["LEAIM_DATABASE_URL"] = url


def _secret_resolved_into_the_environment(template: Template) -> None:
    reference = {"Fn::Sub": "{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}"}
    _lifecycle_variables(template)["LEAIM_DATABASE_AUTH"] = reference


def _private_key_in_the_environment(template: Template) -> None:
    _lifecycle_variables(template)["LEAIM_SIGNER"] = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n"


def _access_key_in_the_environment(template: Template) -> None:
    _lifecycle_variables(template)["LEAIM_UPLOADER"] = "AKIAIOSFODNN7EXAMPLE"


def _token_in_the_environment(template: Template) -> None:
    _lifecycle_variables(template)["LEAIM_WEBHOOK"] = {
        "Fn::Sub": "https://hooks.example/${Stage}/q8Zt3vN1xYp0LmR7sWk2Jd5H"
    }


def _no_echo_parameter(template: Template) -> None:
    template["Parameters"]["DatabasePassword"] = {"Type": "String", "NoEcho": True}


def _no_sqs_endpoint(template: Template) -> None:
    del template["Resources"]["SqsEndpoint"]


def _s3_endpoint_on_one_zone(template: Template) -> None:
    _resource(template, "S3Endpoint")["Properties"]["RouteTableIds"] = [{"Ref": "PrivateRouteTableA"}]


def _nat_in_the_other_zone(template: Template) -> None:
    _resource(template, "PrivateDefaultRouteB")["Properties"]["NatGatewayId"] = {"Ref": "NatGatewayA"}


def _no_internet_route(template: Template) -> None:
    del template["Resources"]["PublicDefaultRoute"]


def _no_https_egress(template: Template) -> None:
    _resource(template, "FunctionSecurityGroup")["Properties"]["SecurityGroupEgress"] = []


def _writer_stream(template: Template) -> dict[str, Any]:
    properties: dict[str, Any] = _event(template, "AuditWriterFunction", "Accepted")["Properties"]
    return properties


def _no_bisection(template: Template) -> None:
    _writer_stream(template)["BisectBatchOnFunctionError"] = False


def _endless_retries(template: Template) -> None:
    _event(template, "IngestStreamFunction", INGEST_STREAM_EVENT)["Properties"]["MaximumRetryAttempts"] = -1


def _writer_gives_up(template: Template) -> None:
    _writer_stream(template)["MaximumRetryAttempts"] = 10


def _no_failure_destination(template: Template) -> None:
    del _writer_stream(template)["DestinationConfig"]


def _may_not_send_failures(template: Template) -> None:
    policies = _resource(template, "AuditWriterFunction")["Properties"]["Policies"]
    policies[:] = [policy for policy in policies if not (isinstance(policy, dict) and "SQSSendMessagePolicy" in policy)]


def _data_on_every_resource(template: Template) -> None:
    statement = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}
    _resource(template, "AcceptAuditEventsPolicy")["Properties"]["PolicyDocument"]["Statement"].append(statement)


BREAKAGES = [
    (runtimes_are_python_312_or_newer, _old_runtime, "older than python3.12"),
    (runtimes_are_python_312_or_newer, _layer_built_for_another_runtime, "built for python3.11"),
    (
        decision_functions_use_snap_start,
        _set("DecisionApiFunction", "SnapStart", None),
        "DecisionApiFunction: no SnapStart",
    ),
    (decision_functions_use_snap_start, _set("DecisionQueueFunction", "AutoPublishAlias", None), "AutoPublishAlias"),
    (
        sql_functions_and_only_they_run_in_the_vpc,
        _set("AuditDigestFunction", "VpcConfig", None),
        "AuditDigestFunction: not in a VPC",
    ),
    (sql_functions_and_only_they_run_in_the_vpc, _decision_function_in_the_vpc, "DecisionApiFunction: in a VPC"),
    (
        sql_functions_and_only_they_run_in_the_vpc,
        _database_settings_for_every_function,
        "IngestApiFunction: database settings",
    ),
    (sql_functions_and_only_they_run_in_the_vpc, _public_subnets, "not all private subnets"),
    (sql_functions_and_only_they_run_in_the_vpc, _one_zone, "all in one Availability Zone"),
    (sql_functions_and_only_they_run_in_the_vpc, _no_connect_policy, "TrainingQueueFunction: may not rds-db:connect"),
    (database_proxy_requires_iam_and_tls, _proxy_iam_optional, "IAMAuth is DISABLED"),
    (database_proxy_requires_iam_and_tls, _set("DatabaseProxy", "RequireTLS", False), "RequireTLS is not true"),
    (
        database_proxy_requires_iam_and_tls,
        _password_written_in_the_template,
        "does not resolve from the proxy's secret",
    ),
    (
        database_proxy_requires_iam_and_tls,
        _set("DatabaseReaderInstance", "PubliclyAccessible", True),
        "PubliclyAccessible",
    ),
    (database_proxy_requires_iam_and_tls, _database_open_to_the_vpc, "not only the proxy"),
    (no_credentials_in_environment, _password_setting, "LEAIM_DATABASE_PASSWORD: a credential"),
    (no_credentials_in_environment, _url_with_credentials, "a URL with credentials"),
    (no_credentials_in_environment, _secret_resolved_into_the_environment, "a dynamic reference"),
    (no_credentials_in_environment, _no_echo_parameter, "Parameters.DatabasePassword"),
    (no_credentials_in_environment, _private_key_in_the_environment, "LEAIM_SIGNER: a value that looks like a secret"),
    (no_credentials_in_environment, _access_key_in_the_environment, "LEAIM_UPLOADER: a value that looks like"),
    (no_credentials_in_environment, _token_in_the_environment, "LEAIM_WEBHOOK: a value that looks like a secret"),
    (vpc_endpoints_serve_the_private_subnets, _no_sqs_endpoint, "sqs: no Interface endpoint"),
    (
        vpc_endpoints_serve_the_private_subnets,
        _set("SecretsManagerEndpoint", "PrivateDnsEnabled", False),
        "PrivateDnsEnabled",
    ),
    (vpc_endpoints_serve_the_private_subnets, _s3_endpoint_on_one_zone, "s3: no Gateway endpoint"),
    (private_subnets_reach_out_through_nat, _nat_in_the_other_zone, "in another Availability Zone"),
    (private_subnets_reach_out_through_nat, _no_internet_route, "no route to an internet gateway"),
    (private_subnets_reach_out_through_nat, _no_https_egress, "no HTTPS egress"),
    (
        stream_events_bisect_retry_and_set_aside,
        _no_bisection,
        "AuditWriterFunction.Accepted: BisectBatchOnFunctionError",
    ),
    (stream_events_bisect_retry_and_set_aside, _endless_retries, "MaximumRetryAttempts -1"),
    (stream_events_bisect_retry_and_set_aside, _writer_gives_up, "gives up on accepted events"),
    (stream_events_bisect_retry_and_set_aside, _no_failure_destination, "DestinationConfig.OnFailure"),
    (stream_events_bisect_retry_and_set_aside, _may_not_send_failures, "may not send to its on-failure queue"),
    (data_actions_name_their_resources, _data_on_every_resource, "AcceptAuditEventsPolicy: dynamodb:GetItem on ['*']"),
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
    assert globals_["Runtime"] == "python3.12"
    assert isinstance(globals_["Timeout"], int)
    for function_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        assert "Runtime" not in function["Properties"], f"{function_id} overrides the Globals runtime"


def test_layers_are_built_from_the_repository(template: Template) -> None:
    contracts = _resource(template, "ContractsLayer")
    assert contracts["Metadata"] == {"BuildMethod": "makefile", "WorkingDirectory": "./"}
    assert (REPO_ROOT / contracts["Properties"]["ContentUri"] / "Makefile").is_file()
    core = _resource(template, "CoreLayer")
    assert core["Metadata"] == {"BuildMethod": "python3.12"}
    # sam copies the folder as it is: it must hold the one package it ships and nothing else.
    assert sorted(path.name for path in (REPO_ROOT / core["Properties"]["ContentUri"]).iterdir()) == ["leaim"]
    dependencies = _resource(template, "DependenciesLayer")
    assert dependencies["Metadata"] == {"BuildMethod": "python3.12"}
    assert (REPO_ROOT / dependencies["Properties"]["ContentUri"] / "requirements.txt").is_file()
