"""The template's queues, tables, buckets and streams, created in moto's threaded server with real boto3 clients.

Intrinsics resolve as CloudFormation resolves them for the supported subset: `Ref`, `Fn::GetAtt`, `Fn::Sub`,
`Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::Base64`, `Fn::FindInMap`, `Fn::If` with `Conditions`.
Physical names are `<stack name>-<logical id>` (lower-cased for buckets) unless the template names the resource.

The network of the cloud deployment (VPC, subnets, routes, NAT gateways, endpoints, security groups), its SQL
database (the Aurora cluster, its instances, the RDS Proxy, the secret of its credentials) and the IAM roles and
policies are not created: the embedded default's functions reach their SQLite file directly and moto checks no
permissions. They are named, as CloudFormation would name them, so that references to them resolve; the local
stack's own database URL wins over the proxy settings such a reference gives a function.

Encryption at rest and transport rules are knowingly skipped, and named the same way:
- the KMS key and its alias are not created, and the encryption settings that name the key (a bucket's
  `BucketEncryption`, a table's `SSESpecification`, a queue's `KmsMasterKeyId`, a stream's `StreamEncryption`)
  are not applied: moto keeps the data unencrypted whatever they say, and its keys are not kept in the state
  directory, so a key made here would not outlive a restart that the buckets and tables naming it do;
- bucket policies are not applied: the endpoint is plain HTTP on the loopback interface, which the template's
  TLS-only policies would refuse if anything enforced them, and moto evaluates no bucket policy.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from embedded.emulation.exceptions import TemplateError
from embedded.emulation.journal import DurableState, Restored
from embedded.emulation.template import (
    DYNAMODB_TABLE,
    KINESIS_STREAM,
    PROVISIONED_TYPES,
    S3_BUCKET,
    SERVERLESS_API,
    SERVERLESS_FUNCTION,
    SQS_QUEUE,
)
from embedded.emulation.transactions import install as isolate_dynamodb_requests

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from _typeshed.wsgi import WSGIApplication
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef
    from mypy_boto3_s3.type_defs import ObjectLockConfigurationTypeDef, ObjectLockRuleTypeDef

    from embedded.emulation.template import Resource, Template

ACCOUNT_ID = "123456789012"
# moto accepts any credentials; these keep boto3 from looking for real ones.
DUMMY_CREDENTIAL = "testing"
PARTITION = "aws"
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NO_VALUE = object()

# Properties that shape production only (encryption, backups, tags); moto needs none of them to behave alike
# (encryption: see the module docstring).
_IGNORED_PROPERTIES: Mapping[str, frozenset[str]] = {
    SQS_QUEUE: frozenset({"SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "Tags"}),
    DYNAMODB_TABLE: frozenset(
        {
            "PointInTimeRecoverySpecification",
            "SSESpecification",
            "DeletionProtectionEnabled",
            "ContributorInsightsSpecification",
            "TableClass",
            "Tags",
        }
    ),
    S3_BUCKET: frozenset(
        {"BucketEncryption", "PublicAccessBlockConfiguration", "OwnershipControls", "LifecycleConfiguration", "Tags"}
    ),
    KINESIS_STREAM: frozenset({"StreamEncryption", "StreamModeDetails", "Tags"}),
}
_SUPPORTED_PROPERTIES: Mapping[str, frozenset[str]] = {
    SQS_QUEUE: frozenset(
        {
            "QueueName",
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "MaximumMessageSize",
            "ReceiveMessageWaitTimeSeconds",
            "RedrivePolicy",
            "FifoQueue",
            "ContentBasedDeduplication",
        }
    ),
    DYNAMODB_TABLE: frozenset(
        {
            "TableName",
            "KeySchema",
            "AttributeDefinitions",
            "BillingMode",
            "ProvisionedThroughput",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "StreamSpecification",
            "TimeToLiveSpecification",
        }
    ),
    S3_BUCKET: frozenset({"BucketName", "VersioningConfiguration", "ObjectLockEnabled", "ObjectLockConfiguration"}),
    KINESIS_STREAM: frozenset({"Name", "ShardCount", "RetentionPeriodHours"}),
}

# Resources named but not created (see the module docstring): what `Ref` returns and the attributes `Fn::GetAtt`
# can read, in the form AWS gives them. `{name}` is the physical name, `{id}` a stable hex id derived from it.
_NAMED_ONLY: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "AWS::EC2::VPC": ("vpc-{id}", {"VpcId": "vpc-{id}", "DefaultSecurityGroup": "sg-{id}"}),
    "AWS::EC2::Subnet": ("subnet-{id}", {"SubnetId": "subnet-{id}"}),
    "AWS::EC2::InternetGateway": ("igw-{id}", {"InternetGatewayId": "igw-{id}"}),
    "AWS::EC2::VPCGatewayAttachment": ("{name}", {}),
    "AWS::EC2::EIP": ("{name}", {"AllocationId": "eipalloc-{id}"}),
    "AWS::EC2::NatGateway": ("nat-{id}", {}),
    "AWS::EC2::RouteTable": ("rtb-{id}", {"RouteTableId": "rtb-{id}"}),
    "AWS::EC2::Route": ("{name}", {}),
    "AWS::EC2::SubnetRouteTableAssociation": ("rtbassoc-{id}", {"Id": "rtbassoc-{id}"}),
    "AWS::EC2::VPCEndpoint": ("vpce-{id}", {"Id": "vpce-{id}"}),
    "AWS::EC2::SecurityGroup": ("sg-{id}", {"GroupId": "sg-{id}"}),
    "AWS::EC2::SecurityGroupIngress": ("sgr-{id}", {"Id": "sgr-{id}"}),
    "AWS::EC2::SecurityGroupEgress": ("sgr-{id}", {"Id": "sgr-{id}"}),
    "AWS::SecretsManager::Secret": (
        "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-{id6}",
        {"Id": "arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-{id6}"},
    ),
    "AWS::RDS::DBSubnetGroup": ("{lower}", {}),
    "AWS::RDS::DBCluster": (
        "{lower}",
        {
            "Endpoint.Address": "{lower}.cluster-{id}.{region}.rds.amazonaws.com",
            "ReadEndpoint.Address": "{lower}.cluster-ro-{id}.{region}.rds.amazonaws.com",
            "DBClusterArn": "arn:{partition}:rds:{region}:{account}:cluster:{lower}",
            "DBClusterResourceId": "cluster-{ID}",
        },
    ),
    "AWS::RDS::DBInstance": (
        "{lower}",
        {
            "Endpoint.Address": "{lower}.{id}.{region}.rds.amazonaws.com",
            "DBInstanceArn": "arn:{partition}:rds:{region}:{account}:db:{lower}",
        },
    ),
    "AWS::RDS::DBProxy": (
        "{lower}",
        {
            "Endpoint": "{lower}.proxy-{id}.{region}.rds.amazonaws.com",
            "DBProxyArn": "arn:{partition}:rds:{region}:{account}:db-proxy:prx-{id}",
        },
    ),
    "AWS::RDS::DBProxyTargetGroup": (
        "arn:{partition}:rds:{region}:{account}:target-group:prx-tg-{id}",
        {"TargetGroupArn": "arn:{partition}:rds:{region}:{account}:target-group:prx-tg-{id}"},
    ),
    "AWS::IAM::Role": ("{name}", {"Arn": "arn:{partition}:iam::{account}:role/{name}", "RoleId": "AROA{ID}"}),
    "AWS::IAM::ManagedPolicy": (
        "arn:{partition}:iam::{account}:policy/{name}",
        {"PolicyArn": "arn:{partition}:iam::{account}:policy/{name}"},
    ),
    "AWS::KMS::Key": ("{uuid}", {"Arn": "arn:{partition}:kms:{region}:{account}:key/{uuid}", "KeyId": "{uuid}"}),
    "AWS::S3::BucketPolicy": ("{name}", {}),
}
# Named too, but `Ref` returns the alias name the template gives it.
KMS_ALIAS = "AWS::KMS::Alias"


@dataclass(frozen=True)
class PhysicalResource:
    """A created (or named) resource: what `Ref` returns and the attributes `Fn::GetAtt` can read."""

    logical_id: str
    type: str
    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class LocalEndpoint:
    """moto's threaded server on 127.0.0.1, on a free port unless one is given.

    With a `state_dir`, what moto holds is kept there (`embedded.emulation.journal`): it is put back when the
    endpoint starts and every change is on disk before it is answered. `wrappers` are WSGI middlewares around
    moto's app, the first one outermost; the journal sits inside them, so a request a wrapper answers itself (an
    injected fault) never reaches moto.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        state_dir: Path | None = None,
        wrappers: Sequence[Callable[[WSGIApplication], WSGIApplication]] = (),
    ) -> None:
        self._port = port
        self._state = DurableState(state_dir) if state_dir is not None else None
        self._wrappers = tuple(wrappers)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self.restored: Restored | None = None

    @property
    def url(self) -> str:
        """The endpoint URL boto3 clients use (`AWS_ENDPOINT_URL`)."""
        if self._url is None:
            raise RuntimeError("the endpoint is not started")
        return self._url

    def start(self) -> None:
        """Put the state directory's state back, then serve until `stop()`."""
        # werkzeug logs every request at INFO through its own stream handler unless its logger has a level.
        werkzeug = logging.getLogger("werkzeug")
        if werkzeug.level == logging.NOTSET:
            werkzeug.setLevel(logging.WARNING)
        # Every user of the endpoint, the stack or a test, gets DynamoDB's isolation and all-or-nothing transactions.
        isolate_dynamodb_requests()
        app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
        if self._state is not None:
            self.restored = self._state.restore()
            app = self._state.wrap(app)
        for wrap in reversed(self._wrappers):
            app = wrap(app)
        self._server = make_server("127.0.0.1", self._port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self._url = f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Shut the server down, wait for its thread, and close the journal."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()
            self._server = None
            self._thread = None
            self._url = None
        if self._state is not None:
            self._state.close()


def local_session(region: str) -> boto3.session.Session:
    """A boto3 session with moto's dummy credentials; one per thread, as boto3 sessions are not thread-safe."""
    return boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIAL, aws_secret_access_key=DUMMY_CREDENTIAL, region_name=region
    )


def references(value: Any) -> set[str]:
    """Logical ids (and parameter names) `value` refers to through `Ref`, `Fn::GetAtt` or `Fn::Sub`."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        if len(value) == 1 and "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        elif len(value) == 1 and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, list) and target and isinstance(target[0], str):
                found.add(target[0])
        elif len(value) == 1 and "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text, variables = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
            for name in _SUB_VARIABLE.findall(text):
                if not name.startswith("!") and name not in variables:
                    found.add(name.split(".", 1)[0])
            found |= references(variables)
        else:
            for item in value.values():
                found |= references(item)
    return found


class Resolver:
    """Resolves intrinsic functions against parameters, pseudo parameters and created resources."""

    def __init__(
        self,
        template: Template,
        parameters: Mapping[str, str],
        *,
        stack_name: str,
        region: str,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.resources: dict[str, PhysicalResource] = {}
        self._pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::StackName": stack_name,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        }
        self._conditions: dict[str, bool] = {}

    def resolve(self, value: Any, where: str) -> Any:
        """Resolve every intrinsic inside `value`; `where` names the resource and key in errors."""
        resolved = self._resolve(value, where)
        return None if resolved is _NO_VALUE else resolved

    def resolve_string(self, value: Any, where: str) -> str:
        """Resolve `value` to a string, as Lambda environment variables and names require."""
        resolved = self.resolve(value, where)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, int | float | str):
            return str(resolved)
        raise TemplateError(f"{where} resolves to {type(resolved).__name__}, not a string")

    def condition(self, name: str, where: str) -> bool:
        """The value of the named entry of `Conditions`."""
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise TemplateError(f"{where}: condition {name!r} is not declared in Conditions")
            self._conditions[name] = self._truth(self.template.conditions[name], f"Conditions.{name}")
        return self._conditions[name]

    def _truth(self, value: Any, where: str) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Condition":
                return self.condition(argument, where)
            if key == "Fn::Equals":
                left, right = (self.resolve(v, where) for v in argument)
                return bool(str(left) == str(right))
            if key == "Fn::Not":
                return not self._truth(argument[0], where)
            if key == "Fn::And":
                return all(self._truth(v, where) for v in argument)
            if key == "Fn::Or":
                return any(self._truth(v, where) for v in argument)
        raise TemplateError(f"{where}: {value!r} is not a condition")

    def _resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v, where) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = self._intrinsics().get(key)
            if handler is not None:
                return handler(argument, f"{where}.{key}")
            if key.startswith("Fn::"):
                raise TemplateError(f"{where}: intrinsic {key} is not supported locally")
        resolved = {k: self._resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _intrinsics(self) -> dict[str, Callable[[Any, str], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::Base64": lambda arg, where: base64.b64encode(self.resolve_string(arg, where).encode("utf-8")).decode(
                "ascii"
            ),
            "Fn::FindInMap": self._find_in_map,
            "Fn::If": self._if,
        }

    def _ref(self, name: Any, where: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self._resource(name, where).ref

    def _get_att(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: Fn::GetAtt takes [Resource, Attribute], got {argument!r}")
        logical_id, attribute = argument[0], self.resolve_string(argument[1], where)
        resource = self._resource(logical_id, where)
        if attribute not in resource.attributes:
            known = ", ".join(sorted(resource.attributes)) or "none"
            raise TemplateError(
                f"{where}: {logical_id} ({resource.type}) has no attribute {attribute} (known: {known})"
            )
        return resource.attributes[attribute]

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            text, variables = argument[0], self.resolve(argument[1], where)
        else:
            raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{variables}}]")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self._pseudo:
                logical_id, attribute = name.split(".", 1)
                return self._get_att([logical_id, attribute], where)
            return self.resolve_string({"Ref": name}, where)

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, argument: Any, where: str) -> str:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: Fn::Join takes [delimiter, [values]]")
        delimiter = self.resolve_string(argument[0], where)
        values = self.resolve(argument[1], where)
        if not isinstance(values, list):
            raise TemplateError(f"{where}: Fn::Join needs a list of values")
        return delimiter.join(self.resolve_string(v, where) for v in values)

    def _select(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: Fn::Select takes [index, [values]]")
        index = int(self.resolve_string(argument[0], where))
        values = self.resolve(argument[1], where)
        if not isinstance(values, list) or not 0 <= index < len(values):
            raise TemplateError(f"{where}: Fn::Select index {index} is out of range")
        return values[index]

    def _split(self, argument: Any, where: str) -> list[str]:
        if not (isinstance(argument, list) and len(argument) == 2):
            raise TemplateError(f"{where}: Fn::Split takes [delimiter, string]")
        return self.resolve_string(argument[1], where).split(self.resolve_string(argument[0], where))

    def _find_in_map(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise TemplateError(f"{where}: Fn::FindInMap takes [map, top key, second key]")
        map_name, top, second = (self.resolve_string(v, where) for v in argument)
        try:
            return self.template.mappings[map_name][top][second]
        except (KeyError, TypeError) as error:
            raise TemplateError(f"{where}: Mappings has no {map_name}.{top}.{second}") from error

    def _if(self, argument: Any, where: str) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3):
            raise TemplateError(f"{where}: Fn::If takes [condition, value if true, value if false]")
        chosen = argument[1] if self.condition(argument[0], where) else argument[2]
        return self._resolve(chosen, where)

    def _resource(self, logical_id: Any, where: str) -> PhysicalResource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        if logical_id in self.template.resources:
            kind = self.template.resources[logical_id].type
            raise TemplateError(f"{where}: {logical_id} ({kind}) has no local counterpart to refer to")
        raise TemplateError(f"{where}: {logical_id!r} is neither a parameter nor a resource")


def physical_name(stack_name: str, logical_id: str, *, max_length: int = 80) -> str:
    """`<stack>-<logical id>`, shortened with a stable digest when a service limits name length."""
    name = f"{stack_name}-{logical_id}"
    if len(name) <= max_length:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: max_length - 9]}-{digest}"


def _check_properties(resource: Resource, properties: Mapping[str, Any]) -> None:
    allowed = _SUPPORTED_PROPERTIES[resource.type] | _IGNORED_PROPERTIES[resource.type]
    for key in properties:
        if key not in allowed:
            raise TemplateError(f"{resource.logical_id} ({resource.type}): property {key} is not supported locally")


class Provisioner:
    """Creates the template's resources in dependency order and records them in the resolver."""

    def __init__(self, resolver: Resolver, *, endpoint_url: str) -> None:
        self.resolver = resolver
        session = local_session(resolver.region)
        self._sqs = session.client("sqs", endpoint_url=endpoint_url)
        self._dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        self._s3 = session.client("s3", endpoint_url=endpoint_url)
        self._kinesis = session.client("kinesis", endpoint_url=endpoint_url)

    def provision(self) -> dict[str, PhysicalResource]:
        """Create every queue, table, bucket and stream; name APIs, functions and layers for `Ref`."""
        template, resolver = self.resolver.template, self.resolver
        for resource in template.resources.values():
            if resource.type not in PROVISIONED_TYPES:
                named = self._named(resource)
                if named is not None:
                    resolver.resources[resource.logical_id] = named
        for resource in self._ordered():
            if resource.condition and not resolver.condition(resource.condition, resource.logical_id):
                continue
            where = f"{resource.logical_id}.Properties"
            properties = resolver.resolve(dict(resource.properties), where)
            _check_properties(resource, properties)
            create = {
                SQS_QUEUE: self._queue,
                DYNAMODB_TABLE: self._table,
                S3_BUCKET: self._bucket,
                KINESIS_STREAM: self._stream,
            }[resource.type]
            resolver.resources[resource.logical_id] = create(resource, properties)
        return dict(resolver.resources)

    def _ordered(self) -> list[Resource]:
        """Provisioned resources, each after the ones its properties refer to (a DLQ before its queue)."""
        resources = {r.logical_id: r for r in self.resolver.template.resources.values() if r.type in PROVISIONED_TYPES}
        ordered: list[Resource] = []
        state: dict[str, str] = {}

        def visit(logical_id: str, chain: tuple[str, ...]) -> None:
            if state.get(logical_id) == "done":
                return
            if state.get(logical_id) == "visiting":
                raise TemplateError(f"circular reference between resources: {' -> '.join((*chain, logical_id))}")
            state[logical_id] = "visiting"
            for dependency in sorted(references(resources[logical_id].properties)):
                if dependency in resources:
                    visit(dependency, (*chain, logical_id))
            state[logical_id] = "done"
            ordered.append(resources[logical_id])

        for logical_id in resources:
            visit(logical_id, ())
        return ordered

    def _named(self, resource: Resource) -> PhysicalResource | None:
        resolver = self.resolver
        region, account, name = (
            resolver.region,
            resolver.account_id,
            physical_name(resolver.stack_name, resource.logical_id, max_length=64),
        )
        if resource.type == SERVERLESS_API:
            api_id = hashlib.sha256(name.encode()).hexdigest()[:10]
            return PhysicalResource(resource.logical_id, resource.type, api_id, {"RootResourceId": api_id[:6]})
        if resource.type == SERVERLESS_FUNCTION:
            arn = f"arn:{PARTITION}:lambda:{region}:{account}:function:{name}"
            return PhysicalResource(resource.logical_id, resource.type, name, {"Arn": arn})
        if resource.type == "AWS::Serverless::LayerVersion":
            arn = f"arn:{PARTITION}:lambda:{region}:{account}:layer:{name}:1"
            return PhysicalResource(resource.logical_id, resource.type, arn)
        if resource.type == KMS_ALIAS:
            where = f"{resource.logical_id}.Properties.AliasName"
            return PhysicalResource(
                resource.logical_id, resource.type, resolver.resolve_string(resource.properties.get("AliasName"), where)
            )
        if resource.type in _NAMED_ONLY:
            ref, attributes = _NAMED_ONLY[resource.type]
            digest = hashlib.sha256(name.encode()).hexdigest()
            fields = {
                "name": name,
                "lower": name.lower(),
                "id": digest[:17],
                "id6": digest[:6],
                "ID": digest[:20].upper(),
                "uuid": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
                "region": region,
                "account": account,
                "partition": PARTITION,
            }
            return PhysicalResource(
                resource.logical_id,
                resource.type,
                ref.format_map(fields),
                {attribute: value.format_map(fields) for attribute, value in attributes.items()},
            )
        return None

    def _queue(self, resource: Resource, properties: Mapping[str, Any]) -> PhysicalResource:
        fifo = str(properties.get("FifoQueue", "false")).lower() == "true"
        name = properties.get("QueueName") or physical_name(
            self.resolver.stack_name, resource.logical_id, max_length=75 if fifo else 80
        ) + (".fifo" if fifo else "")
        attributes: dict[Any, str] = {
            key: _attribute_string(properties[key])
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "MaximumMessageSize",
                "ReceiveMessageWaitTimeSeconds",
                "FifoQueue",
                "ContentBasedDeduplication",
            )
            if key in properties
        }
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            policy = json.loads(policy) if isinstance(policy, str) else dict(policy)
            if "deadLetterTargetArn" not in policy or "maxReceiveCount" not in policy:
                raise TemplateError(
                    f"{resource.logical_id}.RedrivePolicy needs deadLetterTargetArn and maxReceiveCount"
                )
            policy["maxReceiveCount"] = int(policy["maxReceiveCount"])
            attributes["RedrivePolicy"] = json.dumps(policy)
        try:
            url = self._sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except self._sqs.exceptions.QueueNameExists:
            # Kept from an earlier start on the same state directory: the template's settings win, as on a stack update.
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            changed = {key: value for key, value in attributes.items() if key != "FifoQueue"}
            if changed:
                self._sqs.set_queue_attributes(QueueUrl=url, Attributes=changed)
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return PhysicalResource(
            resource.logical_id, resource.type, url, {"Arn": arn, "QueueName": name, "QueueUrl": url}
        )

    def _table(self, resource: Resource, properties: Mapping[str, Any]) -> PhysicalResource:
        name = properties.get("TableName") or physical_name(
            self.resolver.stack_name, resource.logical_id, max_length=255
        )
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if key in properties:
                request[key] = properties[key]
        if "StreamSpecification" in request and "StreamEnabled" not in request["StreamSpecification"]:
            request["StreamSpecification"] = {**request["StreamSpecification"], "StreamEnabled": True}
        try:
            description = self._dynamodb.create_table(**request)["TableDescription"]
        except self._dynamodb.exceptions.ResourceInUseException:
            description = self._kept_table(resource, request)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl and str(ttl.get("Enabled", "false")).lower() == "true":
            self._dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
            )
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return PhysicalResource(resource.logical_id, resource.type, name, attributes)

    def _kept_table(self, resource: Resource, request: Mapping[str, Any]) -> TableDescriptionTypeDef:
        """A table kept from an earlier start on the same state directory, if its keys are still the template's."""
        description = self._dynamodb.describe_table(TableName=request["TableName"])["Table"]
        kept = {(key["AttributeName"], key["KeyType"]) for key in description["KeySchema"]}
        declared = {(key["AttributeName"], key["KeyType"]) for key in request["KeySchema"]}
        if kept != declared:
            raise TemplateError(
                f"{resource.logical_id}: the state directory holds table {request['TableName']} with other keys "
                f"({sorted(kept)}, the template declares {sorted(declared)}); a key change replaces the table, "
                "so start on a new state directory"
            )
        return description

    def _bucket(self, resource: Resource, properties: Mapping[str, Any]) -> PhysicalResource:
        name = (
            properties.get("BucketName")
            or physical_name(self.resolver.stack_name, resource.logical_id, max_length=63).lower()
        )
        lock = properties.get("ObjectLockConfiguration") or {}
        lock_enabled = str(properties.get("ObjectLockEnabled", "false")).lower() == "true"
        request: dict[str, Any] = {"Bucket": name}
        if lock_enabled:
            request["ObjectLockEnabledForBucket"] = True
        if self.resolver.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.resolver.region}
        # A bucket kept from an earlier start on the same state directory keeps its objects; settings are applied below.
        kept = name in {bucket["Name"] for bucket in self._s3.list_buckets().get("Buckets", [])}
        if not kept:
            self._s3.create_bucket(**request)
        versioning = (properties.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            self._s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
        if lock_enabled and lock.get("Rule"):
            configuration: ObjectLockConfigurationTypeDef = {
                "ObjectLockEnabled": "Enabled",
                "Rule": _lock_rule(lock["Rule"]),
            }
            # moto refuses to set a lock configuration on a bucket that holds objects, even the same one again.
            current = self._s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] if kept else None
            if current is None or _retention(current) != _retention(configuration):
                self._s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=configuration)
        region = self.resolver.region
        return PhysicalResource(
            resource.logical_id,
            resource.type,
            name,
            {
                "Arn": f"arn:{PARTITION}:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            },
        )

    def _stream(self, resource: Resource, properties: Mapping[str, Any]) -> PhysicalResource:
        name = properties.get("Name") or physical_name(self.resolver.stack_name, resource.logical_id, max_length=128)
        # A stream kept from an earlier start on the same state directory keeps its records.
        with contextlib.suppress(self._kinesis.exceptions.ResourceInUseException):
            self._kinesis.create_stream(StreamName=name, ShardCount=int(properties.get("ShardCount", 1)))
        self._kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
        if "RetentionPeriodHours" in properties and int(properties["RetentionPeriodHours"]) > 24:
            self._kinesis.increase_stream_retention_period(
                StreamName=name, RetentionPeriodHours=int(properties["RetentionPeriodHours"])
            )
        arn = self._kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        return PhysicalResource(resource.logical_id, resource.type, name, {"Arn": arn})


def _attribute_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retention(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A lock configuration's default retention, without the unset period moto reports as 0."""
    retention = (configuration.get("Rule") or {}).get("DefaultRetention") or {}
    return {key: value for key, value in retention.items() if value not in (0, None)}


def _lock_rule(rule: Mapping[str, Any]) -> ObjectLockRuleTypeDef:
    retention = dict(rule.get("DefaultRetention") or {})
    for key in ("Days", "Years"):
        if key in retention:
            retention[key] = int(retention[key])
    return cast("ObjectLockRuleTypeDef", {"DefaultRetention": retention})
