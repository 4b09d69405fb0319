"""A SAM template read the way `sam` reads it: short tags, parameters, Globals, functions and their events."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from embedded.emulation.exceptions import TemplateError
from embedded.emulation.filters import EventPattern

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_API = "AWS::Serverless::Api"
SQS_QUEUE = "AWS::SQS::Queue"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
S3_BUCKET = "AWS::S3::Bucket"
KINESIS_STREAM = "AWS::Kinesis::Stream"
PROVISIONED_TYPES = frozenset({SQS_QUEUE, DYNAMODB_TABLE, S3_BUCKET, KINESIS_STREAM})

# SAM's own defaults when neither the function nor Globals says otherwise.
DEFAULT_TIMEOUT_S = 3
DEFAULT_MEMORY_MB = 128

# The property holding the schedule expression, by event type: an EventBridge rule or an EventBridge Scheduler schedule.
_SCHEDULE_EXPRESSION_PROPERTY = {"Schedule": "Schedule", "ScheduleV2": "ScheduleExpression"}
_SCHEDULE_STATES = frozenset({"ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})
_RATE = re.compile(r"rate\((?P<value>\d+) (?P<unit>[a-z]+)\)")
_RATE_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}

_FN_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
)


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`...) into their long form."""


def _node_value(loader: _TemplateLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node.tag} at {node.start_mark}")


def _construct_ref(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _node_value(loader, node)}


def _construct_condition(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Condition": _node_value(loader, node)}


def _construct_get_att(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        resource, dot, attribute = value.partition(".")
        if not dot or not resource or not attribute:
            raise TemplateError(f"!GetAtt {value!r} at {node.start_mark} is not of the form Resource.Attribute")
        return {"Fn::GetAtt": [resource, attribute]}
    if isinstance(value, list) and len(value) == 2:
        return {"Fn::GetAtt": value}
    raise TemplateError(f"!GetAtt at {node.start_mark} takes 'Resource.Attribute' or [Resource, Attribute]")


def _fn_constructor(name: str) -> Any:
    def construct(loader: _TemplateLoader, node: yaml.Node) -> dict[str, Any]:
        return {f"Fn::{name}": _node_value(loader, node)}

    return construct


def _unknown_tag(loader: _TemplateLoader, suffix: str, node: yaml.Node) -> Any:
    raise TemplateError(f"unknown tag !{suffix} at {node.start_mark}")


_TemplateLoader.add_constructor("!Ref", _construct_ref)
_TemplateLoader.add_constructor("!Condition", _construct_condition)
_TemplateLoader.add_constructor("!GetAtt", _construct_get_att)
for _name in _FN_TAGS:
    _TemplateLoader.add_constructor(f"!{_name}", _fn_constructor(_name))
_TemplateLoader.add_multi_constructor("!", _unknown_tag)


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML, short tags included, into plain data with long-form intrinsics."""
    try:
        return yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TemplateError(f"invalid template YAML: {error}") from error


@dataclass(frozen=True)
class Parameter:
    """One entry of `Parameters`."""

    name: str
    type: str = "String"
    default: str | None = None
    allowed_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiEvent:
    """An `Api` event: API Gateway REST proxy integration for one method and path template."""

    name: str
    path: str
    method: str
    rest_api_id: Any = None


@dataclass(frozen=True)
class SqsEvent:
    """An `SQS` event source mapping. `queue` is the unresolved `Queue` value (an ARN intrinsic)."""

    name: str
    queue: Any
    batch_size: int = 10
    maximum_batching_window_s: int = 0
    report_batch_item_failures: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class KinesisEvent:
    """A `Kinesis` event source mapping. `stream` is the unresolved `Stream` value (an ARN intrinsic)."""

    name: str
    stream: Any
    starting_position: str
    batch_size: int = 100
    maximum_batching_window_s: int = 0
    bisect_batch_on_function_error: bool = False
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    enabled: bool = True
    on_failure: Any = None


@dataclass(frozen=True)
class DynamoDBEvent:
    """A `DynamoDB` event source mapping on a table's stream. `stream` is the unresolved `Stream` value.

    `filters` are the `FilterCriteria` patterns; a record matching none of them is skipped (none: every record).
    """

    name: str
    stream: Any
    starting_position: str
    batch_size: int = 100
    maximum_batching_window_s: int = 0
    bisect_batch_on_function_error: bool = False
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1
    enabled: bool = True
    on_failure: Any = None
    filters: tuple[EventPattern, ...] = ()


@dataclass(frozen=True)
class ScheduleEvent:
    """A `Schedule` (EventBridge rule) or `ScheduleV2` (EventBridge Scheduler) event with a `rate(...)` expression.

    `type` is the event Type, `interval_s` the rate in seconds, `input` the unresolved `Input` (JSON text sent
    instead of the scheduled event) or None; `properties` keeps every property as written.
    """

    name: str
    type: str
    expression: str
    interval_s: int
    properties: Mapping[str, Any]
    enabled: bool = True
    input: Any = None


Event = ApiEvent | SqsEvent | KinesisEvent | DynamoDBEvent | ScheduleEvent


@dataclass(frozen=True)
class Function:
    """An `AWS::Serverless::Function` with `Globals.Function` merged in; intrinsics are still unresolved.

    `reserved_concurrency` is the unresolved `ReservedConcurrentExecutions`, None when the function has none.
    """

    logical_id: str
    code_uri: str
    handler: str
    runtime: str | None
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, Any]
    layers: tuple[Any, ...]
    events: tuple[Event, ...]
    condition: str | None = None
    reserved_concurrency: Any = None


@dataclass(frozen=True)
class Resource:
    """Any entry of `Resources`, properties unresolved."""

    logical_id: str
    type: str
    properties: Mapping[str, Any]
    condition: str | None = None


@dataclass(frozen=True)
class Template:
    """A parsed SAM template."""

    path: Path
    parameters: Mapping[str, Parameter]
    resources: Mapping[str, Resource]
    functions: Mapping[str, Function]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """The folder `CodeUri` paths are relative to."""
        return self.path.parent

    def parameter_values(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Each parameter's value: the override, else the default; `AllowedValues` enforced, all required."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise TemplateError(f"parameters not declared in {self.path.name}: {', '.join(unknown)}")
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, parameter in self.parameters.items():
            value = overrides.get(name, parameter.default)
            if value is None:
                missing.append(name)
                continue
            if parameter.allowed_values and value not in parameter.allowed_values:
                allowed = ", ".join(parameter.allowed_values)
                raise TemplateError(f"parameter {name}={value!r} is not one of its AllowedValues ({allowed})")
            values[name] = value
        if missing:
            raise TemplateError(f"parameters must have values: {', '.join(missing)}")
        return values


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_intrinsic(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in {"Ref", "Condition"} | {f"Fn::{name}" for name in (*_FN_TAGS, "GetAtt")}
    )


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge key by key, lists add up (globals first), anything else is overridden."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


def _int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise TemplateError(f"{where} must be a literal integer, got {value!r}") from error


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise TemplateError(f"{where} must be a literal boolean, got {value!r}")


def _response_types(properties: Mapping[str, Any], where: str) -> bool:
    types = properties.get("FunctionResponseTypes", [])
    if not isinstance(types, list) or any(t != "ReportBatchItemFailures" for t in types):
        raise TemplateError(f"{where}.FunctionResponseTypes supports only [ReportBatchItemFailures], got {types!r}")
    return bool(types)


def _on_failure(properties: Mapping[str, Any], where: str) -> Any:
    """The unresolved ARN of an SQS `DestinationConfig.OnFailure`, or None."""
    on_failure = (properties.get("DestinationConfig") or {}).get("OnFailure")
    if not on_failure:
        return None
    if on_failure.get("Type", "SQS") != "SQS" or "Destination" not in on_failure:
        raise TemplateError(f"{where}.DestinationConfig.OnFailure: only an SQS Destination is supported locally")
    return on_failure["Destination"]


def _bounded(properties: Mapping[str, Any], key: str, default: int, low: int, high: int, where: str) -> int:
    value = _int(properties.get(key, default), f"{where}.{key}")
    if not low <= value <= high:
        raise TemplateError(f"{where}.{key} must be between {low} and {high}, got {value}")
    return value


def _filters(properties: Mapping[str, Any], where: str) -> tuple[EventPattern, ...]:
    criteria = properties.get("FilterCriteria")
    if criteria is None:
        return ()
    filters = criteria.get("Filters") if isinstance(criteria, dict) else None
    if not isinstance(filters, list) or not all(isinstance(f, dict) and "Pattern" in f for f in filters):
        raise TemplateError(f"{where}.FilterCriteria must be {{Filters: [{{Pattern: <JSON text>}}, ...]}}")
    patterns = []
    for index, entry in enumerate(filters):
        try:
            patterns.append(EventPattern.parse(entry["Pattern"]))
        except ValueError as error:
            raise TemplateError(f"{where}.FilterCriteria.Filters[{index}]: {error}") from None
    return tuple(patterns)


def _parse_dynamodb(name: str, properties: Mapping[str, Any], where: str) -> DynamoDBEvent:
    if "Stream" not in properties or "StartingPosition" not in properties:
        raise TemplateError(f"{where}: a DynamoDB event needs Stream and StartingPosition")
    position = properties["StartingPosition"]
    if position not in {"TRIM_HORIZON", "LATEST"}:
        raise TemplateError(f"{where}.StartingPosition must be TRIM_HORIZON or LATEST, got {position!r}")
    if _int(properties.get("ParallelizationFactor", 1), f"{where}.ParallelizationFactor") != 1:
        raise TemplateError(f"{where}.ParallelizationFactor: only 1 (one reader per shard) runs locally")
    for unsupported in ("MaximumRecordAgeInSeconds", "TumblingWindowInSeconds"):
        if unsupported in properties and str(properties[unsupported]) != "-1":
            raise TemplateError(f"{where}.{unsupported} is not supported locally")
    return DynamoDBEvent(
        name=name,
        stream=properties["Stream"],
        starting_position=position,
        batch_size=_bounded(properties, "BatchSize", 100, 1, 10_000, where),
        maximum_batching_window_s=_bounded(properties, "MaximumBatchingWindowInSeconds", 0, 0, 300, where),
        bisect_batch_on_function_error=_bool(
            properties.get("BisectBatchOnFunctionError", False), f"{where}.BisectBatchOnFunctionError"
        ),
        report_batch_item_failures=_response_types(properties, where),
        maximum_retry_attempts=_bounded(properties, "MaximumRetryAttempts", -1, -1, 10_000, where),
        enabled=_bool(properties.get("Enabled", True), f"{where}.Enabled"),
        on_failure=_on_failure(properties, where),
        filters=_filters(properties, where),
    )


def rate_interval_s(expression: str) -> int:
    """Seconds between the runs of an EventBridge `rate(value unit)` expression.

    As EventBridge reads it: a positive whole number, then minute(s), hour(s) or day(s), the unit singular for a
    value of 1 and plural otherwise. Anything else, `cron(...)` and `at(...)` included, raises ValueError.
    """
    match = _RATE.fullmatch(expression)
    if match is None:
        raise ValueError("only rate(value unit) expressions run locally, not cron(...) or at(...)")
    value, unit = int(match["value"]), match["unit"]
    singular = unit.removesuffix("s")
    if value < 1 or singular not in _RATE_UNIT_S:
        raise ValueError("a rate is a positive whole number of minutes, hours or days")
    expected = singular if value == 1 else f"{singular}s"
    if unit != expected:
        raise ValueError(f"a rate of {value} takes the unit {expected!r}")
    return value * _RATE_UNIT_S[singular]


def _schedule_enabled(properties: Mapping[str, Any], where: str) -> bool:
    """`Enabled` or `State` (SAM takes one or the other), enabled when neither is given."""
    if "Enabled" in properties and "State" in properties:
        raise TemplateError(f"{where}: give Enabled or State, not both")
    if "State" not in properties:
        return _bool(properties.get("Enabled", True), f"{where}.Enabled")
    state = properties["State"]
    if not isinstance(state, str) or state not in _SCHEDULE_STATES:
        raise TemplateError(f"{where}.State must be one of {', '.join(sorted(_SCHEDULE_STATES))}, got {state!r}")
    return state != "DISABLED"


def _parse_schedule(name: str, kind: str, properties: Mapping[str, Any], where: str) -> ScheduleEvent:
    key = _SCHEDULE_EXPRESSION_PROPERTY[kind]
    expression = properties.get(key)
    if not isinstance(expression, str):
        raise TemplateError(f"{where}: a {kind} event needs {key} as a literal string, got {expression!r}")
    try:
        interval_s = rate_interval_s(expression)
    except ValueError as error:
        raise TemplateError(f"{where}: schedule {expression!r} is not supported locally: {error}") from None
    return ScheduleEvent(
        name=name,
        type=kind,
        expression=expression,
        interval_s=interval_s,
        properties=dict(properties),
        enabled=_schedule_enabled(properties, where),
        input=properties.get("Input"),
    )


def _parse_event(function_id: str, name: str, body: Mapping[str, Any]) -> Event:
    where = f"{function_id}.Events.{name}"
    kind = body.get("Type")
    properties = body.get("Properties") or {}
    if kind == "Api":
        if "Path" not in properties or "Method" not in properties:
            raise TemplateError(f"{where}: an Api event needs Path and Method")
        return ApiEvent(
            name=name,
            path=str(properties["Path"]),
            method=str(properties["Method"]).upper(),
            rest_api_id=properties.get("RestApiId"),
        )
    if kind == "SQS":
        if "Queue" not in properties:
            raise TemplateError(f"{where}: an SQS event needs Queue")
        return SqsEvent(
            name=name,
            queue=properties["Queue"],
            batch_size=_int(properties.get("BatchSize", 10), f"{where}.BatchSize"),
            maximum_batching_window_s=_int(
                properties.get("MaximumBatchingWindowInSeconds", 0), f"{where}.MaximumBatchingWindowInSeconds"
            ),
            report_batch_item_failures=_response_types(properties, where),
            enabled=_bool(properties.get("Enabled", True), f"{where}.Enabled"),
        )
    if kind == "Kinesis":
        if "Stream" not in properties or "StartingPosition" not in properties:
            raise TemplateError(f"{where}: a Kinesis event needs Stream and StartingPosition")
        return KinesisEvent(
            name=name,
            stream=properties["Stream"],
            starting_position=str(properties["StartingPosition"]),
            batch_size=_int(properties.get("BatchSize", 100), f"{where}.BatchSize"),
            maximum_batching_window_s=_int(
                properties.get("MaximumBatchingWindowInSeconds", 0), f"{where}.MaximumBatchingWindowInSeconds"
            ),
            bisect_batch_on_function_error=_bool(
                properties.get("BisectBatchOnFunctionError", False), f"{where}.BisectBatchOnFunctionError"
            ),
            report_batch_item_failures=_response_types(properties, where),
            maximum_retry_attempts=_int(properties.get("MaximumRetryAttempts", -1), f"{where}.MaximumRetryAttempts"),
            enabled=_bool(properties.get("Enabled", True), f"{where}.Enabled"),
            on_failure=_on_failure(properties, where),
        )
    if kind == "DynamoDB":
        return _parse_dynamodb(name, properties, where)
    if kind in _SCHEDULE_EXPRESSION_PROPERTY:
        return _parse_schedule(name, kind, properties, where)
    raise TemplateError(
        f"{where}: event Type {kind!r} is not supported locally (Api, SQS, Kinesis, DynamoDB, Schedule, ScheduleV2)"
    )


def _parse_function(logical_id: str, resource: Mapping[str, Any], globals_: Mapping[str, Any]) -> Function:
    properties = merge_globals(dict(globals_), dict(resource.get("Properties") or {}))
    for key in ("CodeUri", "Handler"):
        if not isinstance(properties.get(key), str):
            raise TemplateError(f"{logical_id}.{key} must be a literal string (InlineCode and S3 code are not run)")
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    events = properties.get("Events") or {}
    return Function(
        logical_id=logical_id,
        code_uri=properties["CodeUri"],
        handler=properties["Handler"],
        runtime=properties.get("Runtime"),
        timeout_s=_int(properties.get("Timeout", DEFAULT_TIMEOUT_S), f"{logical_id}.Timeout"),
        memory_mb=_int(properties.get("MemorySize", DEFAULT_MEMORY_MB), f"{logical_id}.MemorySize"),
        environment=dict(variables),
        layers=tuple(properties.get("Layers") or ()),
        events=tuple(_parse_event(logical_id, name, body) for name, body in events.items()),
        condition=resource.get("Condition"),
        reserved_concurrency=properties.get("ReservedConcurrentExecutions"),
    )


def _parse_parameter(name: str, body: Mapping[str, Any]) -> Parameter:
    default = body.get("Default")
    allowed = body.get("AllowedValues") or ()
    return Parameter(
        name=name,
        type=str(body.get("Type", "String")),
        default=None if default is None else _scalar(default),
        allowed_values=tuple(_scalar(v) for v in allowed),
    )


def parse_template(document: Mapping[str, Any], path: Path) -> Template:
    """Build the template model from already-loaded template data."""
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources mapping)")
    globals_ = (document.get("Globals") or {}).get("Function") or {}
    resources: dict[str, Resource] = {}
    functions: dict[str, Function] = {}
    for logical_id, body in document["Resources"].items():
        if not isinstance(body, dict) or "Type" not in body:
            raise TemplateError(f"{path}: resource {logical_id} has no Type")
        resources[logical_id] = Resource(
            logical_id=logical_id,
            type=body["Type"],
            properties=dict(body.get("Properties") or {}),
            condition=body.get("Condition"),
        )
        if body["Type"] == SERVERLESS_FUNCTION:
            functions[logical_id] = _parse_function(logical_id, body, globals_)
    parameters = {name: _parse_parameter(name, body) for name, body in (document.get("Parameters") or {}).items()}
    return Template(
        path=path,
        parameters=parameters,
        resources=resources,
        functions=functions,
        conditions=dict(document.get("Conditions") or {}),
        mappings=dict(document.get("Mappings") or {}),
        outputs=dict(document.get("Outputs") or {}),
    )


def load_template(path: Path) -> Template:
    """Read and parse the SAM template at `path`."""
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"cannot read template {path}: {error}") from error
    return parse_template(load_yaml(text), path)
