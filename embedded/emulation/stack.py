"""The local stack: the template's resources in moto, its functions in sandboxes, its pollers, schedules and API.

Each function runs in its own pool of sandbox processes (`embedded.emulation.sandboxes`), each sandbox with only
that function's handler imported and only its environment: the variables the template gives it, resolved, then
the stack's `environment` overrides, over this process's environment less the variables other functions declare.
Credentials among them (the database URL, the PII token key) are put in secrets of the local endpoint and the
function gets their ARNs instead (`embedded.emulation.secrets`), as it gets secrets' ARNs in AWS.
This process keeps the AWS wiring (moto's endpoint, the region, dummy credentials) in `os.environ` while the
stack runs, so boto3 clients made here reach moto as the functions' do.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import embedded
from embedded.emulation.aws import (
    DUMMY_CREDENTIAL,
    PARTITION,
    LocalEndpoint,
    Provisioner,
    Resolver,
    local_session,
    physical_name,
)
from embedded.emulation.context import FunctionConfiguration
from embedded.emulation.exceptions import StreamsBehindError, TemplateError
from embedded.emulation.gateway import ApiGateway, Route
from embedded.emulation.pollers import (
    DynamoDBStreamPoller,
    KinesisPoller,
    PollerState,
    PollerStats,
    Schedule,
    SchedulePoller,
    SqsPoller,
)
from embedded.emulation.sandboxes import FunctionStats, SandboxPool, sandbox_environment
from embedded.emulation.secrets import SECRET_SETTINGS, LocalSecrets
from embedded.emulation.template import (
    DYNAMODB_TABLE,
    KINESIS_STREAM,
    SERVERLESS_API,
    SQS_QUEUE,
    ApiEvent,
    DynamoDBEvent,
    KinesisEvent,
    ScheduleEvent,
    SqsEvent,
    load_template,
)
from leaim.adapters.invocations import JsonlInvocationLedger

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    import boto3
    from _typeshed.wsgi import WSGIApplication
    from mypy_boto3_sqs import SQSClient

    from embedded.emulation.aws import PhysicalResource
    from embedded.emulation.template import Function, Template

DEFAULT_REGION = "us-east-1"
# The stage SAM gives the implicit API of `Api` events that name no RestApiId.
IMPLICIT_API_STAGE = "Prod"
STATE_FILE = "stack.json"
# Every invocation the stack makes, as Lambda's metrics count them: what the coverage report checks against.
INVOCATIONS_FILE = "invocations.jsonl"
# Where the AWS endpoint's checkpoint and journal are, and the pollers' checkpoints and last runs.
AWS_STATE_DIR = "aws"
POLLERS_DIR = "pollers"

EventPoller = SqsPoller | KinesisPoller | DynamoDBStreamPoller | SchedulePoller
# How long `settle_streams` waits by default for the stream readers to catch up.
SETTLE_TIMEOUT_S = 30.0
# The concurrency of a function without `ReservedConcurrentExecutions`: each concurrent invocation is a process.
DEFAULT_CONCURRENCY = 32
# Where this package is imported from: a sandbox's interpreter must find it there too.
_PACKAGE_ROOT = str(Path(embedded.__file__).resolve().parents[1])


@dataclass(frozen=True)
class StackStats:
    """API responses by status code, each poller's counters keyed `<function>.<event>`, each function's sandboxes."""

    api: Mapping[int, int]
    pollers: Mapping[str, PollerStats]
    functions: Mapping[str, FunctionStats]


def _code_root(template: Template, function: Function) -> tuple[Path, Path]:
    """(the function's `CodeUri` folder, the deepest `sys.path` entry that contains it)."""
    code_dir = (template.directory / function.code_uri).resolve()
    roots = [Path(entry).resolve() for entry in sys.path if entry and Path(entry).is_dir()]
    containing = [root for root in roots if code_dir == root or root in code_dir.parents]
    if not containing:
        raise TemplateError(f"{function.logical_id}.CodeUri {code_dir} is not under any sys.path entry")
    return code_dir, max(containing, key=lambda path: len(path.parts))


def handler_module(template: Template, function: Function) -> tuple[str, str]:
    """(module, attribute) of a function's handler: its `CodeUri` folder as a package under `sys.path`.

    `CodeUri: functions/decision_api/` with `Handler: app.app` in a template at the repository root (which is
    on `sys.path`) gives `("functions.decision_api.app", "app")`.
    """
    module, _, attribute = function.handler.rpartition(".")
    if not module or not attribute:
        raise TemplateError(f"{function.logical_id}.Handler {function.handler!r} is not of the form module.function")
    code_dir, root = _code_root(template, function)
    parts = [*code_dir.relative_to(root).parts, *module.split(".")]
    if not all(part.isidentifier() for part in parts):
        raise TemplateError(f"{function.logical_id}: {'/'.join(parts)} is not an importable module path")
    return ".".join(parts), attribute


class LocalStack:
    """The template run on this machine: moto for AWS, functions in sandbox processes, pollers and an API gateway."""

    def __init__(
        self,
        template_path: Path,
        *,
        state_dir: Path,
        parameters: Mapping[str, str] | None = None,
        environment: Mapping[str, str] | None = None,
        stack_name: str = "leaim-local",
        api_port: int = 0,
        schedule_interval_s: float | None = None,
        run_schedules: bool = True,
        default_concurrency: int = DEFAULT_CONCURRENCY,
        endpoint_wrappers: Sequence[Callable[[WSGIApplication], WSGIApplication]] = (),
    ) -> None:
        """`schedule_interval_s`, when given, replaces the rate of every schedule (a 5-minute job every few seconds).

        With `run_schedules` False no schedule fires by itself; `run_schedule` still runs one on demand.
        `default_concurrency` is the most sandboxes a function without `ReservedConcurrentExecutions` may have.
        What the AWS endpoint holds, the stream readers' checkpoints and the schedules' last runs are kept under
        `state_dir` and picked up again by the next start on it. `endpoint_wrappers` are WSGI middlewares put
        around the AWS endpoint (an injected fault), the first one outermost.
        """
        if schedule_interval_s is not None and schedule_interval_s <= 0:
            raise ValueError(f"schedule_interval_s must be positive, got {schedule_interval_s}")
        if default_concurrency < 1:
            raise ValueError(f"default_concurrency must be at least 1, got {default_concurrency}")
        self.template_path = template_path
        self.state_dir = state_dir
        self.parameters = dict(parameters or {})
        self.environment = dict(environment or {})
        self.stack_name = stack_name
        self.api_port = api_port
        self.schedule_interval_s = schedule_interval_s
        self.run_schedules = run_schedules
        self.default_concurrency = default_concurrency
        self.endpoint_wrappers = tuple(endpoint_wrappers)
        self.region = DEFAULT_REGION
        self._endpoint: LocalEndpoint | None = None
        self._resolver: Resolver | None = None
        self._functions: dict[str, SandboxPool] = {}
        self._pollers: dict[str, EventPoller] = {}
        self._schedules: dict[str, dict[str, Schedule]] = {}
        self._gateway: ApiGateway | None = None
        self._saved_environ: dict[str, str | None] = {}
        self._ledger: JsonlInvocationLedger | None = None
        self._secrets: LocalSecrets | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the resources, give each function its pool of sandboxes, then start the pollers and the API.

        A function's first sandbox starts with its first invocation (a cold start), as in Lambda.
        """
        template = load_template(self.template_path)
        parameter_values = template.parameter_values(self.parameters)
        try:
            self._start(template, parameter_values)
        except BaseException:
            self.stop()
            raise

    def _start(self, template: Template, parameter_values: Mapping[str, str]) -> None:
        self.region = os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self._endpoint = LocalEndpoint(state_dir=self.state_dir / AWS_STATE_DIR, wrappers=self.endpoint_wrappers)
        self._endpoint.start()
        self._set_environ(
            {
                "AWS_ENDPOINT_URL": self._endpoint.url,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
                "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
                "AWS_SESSION_TOKEN": DUMMY_CREDENTIAL,
            }
        )
        self._resolver = Resolver(template, parameter_values, stack_name=self.stack_name, region=self.region)
        Provisioner(self._resolver, endpoint_url=self._endpoint.url).provision()
        active = [
            function
            for function in template.functions.values()
            if not function.condition or self._resolver.condition(function.condition, function.logical_id)
        ]
        ledger_file = self.state_dir / INVOCATIONS_FILE
        self._ledger = JsonlInvocationLedger(ledger_file)
        declared = {name for function in template.functions.values() for name in function.environment}
        inherited = {name: value for name, value in os.environ.items() if name not in declared}
        self._secrets = LocalSecrets(
            local_session(self.region).client("secretsmanager", endpoint_url=self._endpoint.url),
            stack_name=self.stack_name,
            state_dir=self.state_dir,
        )
        # A credential, whether an override or in this process's environment, reaches the functions as a secret.
        credentials = {
            name: value for name, value in {**inherited, **self.environment}.items() if name in SECRET_SETTINGS
        }
        overrides = {
            **{name: value for name, value in self.environment.items() if name not in SECRET_SETTINGS},
            **self._secrets.settings(credentials),
        }
        inherited = {name: value for name, value in inherited.items() if name not in SECRET_SETTINGS}
        for function in active:
            self._functions[function.logical_id] = self._pool(
                template,
                function,
                {**inherited, "LEAIM_INVOCATION_LEDGER_FILE": str(ledger_file.resolve())},
                overrides,
            )
        routes = [route for function in active for route in self._routes(function)]
        self._gateway = ApiGateway(routes, region=self.region, account_id=self._resolver.account_id, port=self.api_port)
        self._gateway.start()
        for function in active:
            self._schedules[function.logical_id] = self._function_schedules(function)
            self._pollers.update(self._event_pollers(function))
        for poller in self._pollers.values():
            poller.start()
        self._write_state()

    def stop(self) -> None:
        """Stop pollers, the API, the sandboxes and moto; restore the process environment. Safe to call twice."""
        for poller in self._pollers.values():
            poller.stop()
        self._pollers.clear()
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        for pool in self._functions.values():
            pool.stop()
        if self._secrets is not None:
            self._secrets.remove()
            self._secrets = None
        if self._endpoint is not None:
            self._endpoint.stop()
            self._endpoint = None
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        self._functions.clear()
        self._schedules.clear()
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)

    @property
    def endpoint_url(self) -> str:
        """The moto endpoint every boto3 client of this process talks to."""
        if self._endpoint is None:
            raise RuntimeError("the stack is not started")
        return self._endpoint.url

    @property
    def api_url(self) -> str:
        """Base URL of the API including its stage, as the `https://...amazonaws.com/<stage>` URL in AWS."""
        gateway = self._require_gateway()
        stages = sorted({route.stage for route in gateway.routes})
        return f"{gateway.url}/{stages[0]}" if stages else gateway.url

    @property
    def stats(self) -> StackStats:
        """Counters of the API, of every poller and of every function's sandboxes."""
        gateway = self._require_gateway()
        return StackStats(
            api=gateway.stats,
            pollers={name: p.stats for name, p in self._pollers.items()},
            functions={name: pool.stats for name, pool in self._functions.items()},
        )

    def physical_resource(self, logical_id: str) -> PhysicalResource:
        """The created resource behind a logical id."""
        if self._resolver is None:
            raise RuntimeError("the stack is not started")
        try:
            return self._resolver.resources[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} is not a created resource of {self.template_path.name}") from None

    def physical_id(self, logical_id: str) -> str:
        """What `Ref` returns for the resource: a queue's URL, a table's, bucket's or stream's name."""
        return self.physical_resource(logical_id).ref

    def queue_url(self, logical_id: str) -> str:
        """URL of a declared queue."""
        return self._typed(logical_id, SQS_QUEUE).ref

    def queue_arn(self, logical_id: str) -> str:
        """ARN of a declared queue."""
        return self._typed(logical_id, SQS_QUEUE).attributes["Arn"]

    def table_name(self, logical_id: str) -> str:
        """Name of a declared DynamoDB table."""
        return self._typed(logical_id, DYNAMODB_TABLE).ref

    def settle_streams(self, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """Return once every stream reader (Kinesis and DynamoDB Streams) has caught up with the call.

        Caught up: the reader of each shard has read to the end of its shard after this call began, with every
        record written before the call processed, given up on or skipped by its filters, so what the functions
        did with them can be read. StreamsBehindError names the shards still behind after `timeout_s`.
        """
        since = time.monotonic()
        deadline = since + timeout_s
        behind = [
            shard
            for poller in self._pollers.values()
            if isinstance(poller, KinesisPoller | DynamoDBStreamPoller)
            for shard in poller.settle(since, deadline)
        ]
        if behind:
            raise StreamsBehindError(f"stream readers still behind after {timeout_s:g} s: {'; '.join(behind)}")

    def bucket_name(self, logical_id: str) -> str:
        """Name of a declared S3 bucket."""
        return self._typed(logical_id, "AWS::S3::Bucket").ref

    def stream_name(self, logical_id: str) -> str:
        """Name of a declared Kinesis stream."""
        return self._typed(logical_id, KINESIS_STREAM).ref

    def function(self, logical_id: str) -> SandboxPool:
        """A function of the stack: its configuration (name, ARN, memory, timeout) and its pool of sandboxes."""
        try:
            return self._functions[logical_id]
        except KeyError:
            raise KeyError(f"{logical_id} is not a function of the started stack") from None

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment a function's sandboxes start with, to run its code in another process as it runs."""
        return dict(self.function(logical_id).environment)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function synchronously, as `lambda invoke` does: its result, or its error raised.

        FunctionError carries the error as Lambda reports it, FunctionTimeoutError is past its `Timeout`, and
        FunctionThrottledError says its concurrency is all in use.
        """
        return self.function(logical_id).invoke(event)

    def run_schedule(self, logical_id: str, event_name: str | None = None) -> Any:
        """Invoke a function once with what its schedule sends when it fires; returns its result or raises.

        `event_name` picks one of several schedule events; a disabled schedule runs too, as a manual run would.
        """
        function = self.function(logical_id)
        schedules = self._schedules[logical_id]
        if not schedules:
            raise KeyError(f"{logical_id} has no Schedule or ScheduleV2 event")
        if event_name is None:
            if len(schedules) > 1:
                raise KeyError(f"{logical_id} has several schedule events ({', '.join(schedules)}); name one")
            (event_name,) = schedules
        if event_name not in schedules:
            raise KeyError(f"{logical_id} has no schedule event {event_name} ({', '.join(schedules)})")
        return function.invoke(schedules[event_name].event())

    def _require_gateway(self) -> ApiGateway:
        if self._gateway is None:
            raise RuntimeError("the stack is not started")
        return self._gateway

    def _typed(self, logical_id: str, kind: str) -> PhysicalResource:
        resource = self.physical_resource(logical_id)
        if resource.type != kind:
            raise KeyError(f"{logical_id} is a {resource.type}, not a {kind}")
        return resource

    def _set_environ(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _pool(
        self, template: Template, function: Function, inherited: Mapping[str, str], overrides: Mapping[str, str]
    ) -> SandboxPool:
        """The function's sandbox pool: its handler, its own environment and its concurrency limit."""
        assert self._resolver is not None
        logical_id = function.logical_id
        handler = handler_module(template, function)
        _, code_root = _code_root(template, function)
        named = self._resolver.resources[logical_id]
        configuration = FunctionConfiguration(
            logical_id=logical_id,
            function_name=named.ref,
            arn=named.attributes["Arn"],
            timeout_s=function.timeout_s,
            memory_mb=function.memory_mb,
        )
        own = {
            name: self._resolver.resolve_string(raw, f"{logical_id}.Environment.Variables.{name}")
            for name, raw in function.environment.items()
        }
        environment = sandbox_environment(
            configuration,
            {**inherited, **own, **overrides},
            region=self.region,
            handler=function.handler,
            python_path=[str(code_root), _PACKAGE_ROOT],
        )
        return SandboxPool(
            configuration,
            handler=handler,
            environment=environment,
            concurrency_limit=self._concurrency(function),
            ledger=self._ledger.record if self._ledger is not None else None,
        )

    def _concurrency(self, function: Function) -> int:
        """`ReservedConcurrentExecutions` (0 throttles every invocation, as it does in Lambda), else the default."""
        assert self._resolver is not None
        if function.reserved_concurrency is None:
            return self.default_concurrency
        where = f"{function.logical_id}.ReservedConcurrentExecutions"
        text = self._resolver.resolve_string(function.reserved_concurrency, where)
        if not text.isdigit():
            raise TemplateError(f"{where} must be a whole number of at least 0, got {text!r}")
        return int(text)

    def _routes(self, function: Function) -> list[Route]:
        assert self._resolver is not None
        routes: list[Route] = []
        for event in function.events:
            if not isinstance(event, ApiEvent):
                continue
            where = f"{function.logical_id}.Events.{event.name}.RestApiId"
            if event.rest_api_id is None:
                stage = IMPLICIT_API_STAGE
                api_id = hashlib.sha256(physical_name(self.stack_name, "ServerlessRestApi").encode()).hexdigest()[:10]
            else:
                api_id = self._resolver.resolve_string(event.rest_api_id, where)
                api = next(
                    (r for r in self._resolver.resources.values() if r.type == SERVERLESS_API and r.ref == api_id),
                    None,
                )
                if api is None:
                    raise TemplateError(f"{where} does not refer to an AWS::Serverless::Api of the template")
                stage_name = self._resolver.template.resources[api.logical_id].properties.get("StageName")
                stage = self._resolver.resolve_string(stage_name, f"{api.logical_id}.Properties.StageName")
            method = "ANY" if event.method in {"ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD"} else event.method
            routes.append(Route(event.path, method, self._functions[function.logical_id], stage, api_id))
        return routes

    def _function_schedules(self, function: Function) -> dict[str, Schedule]:
        """Every schedule event of a function, enabled or not, keyed by event name; rules named as SAM names them."""
        assert self._resolver is not None
        schedules: dict[str, Schedule] = {}
        for event in function.events:
            if not isinstance(event, ScheduleEvent):
                continue
            where = f"{function.logical_id}.Events.{event.name}"
            name_property = event.properties.get("Name")
            name = (
                physical_name(self.stack_name, f"{function.logical_id}{event.name}", max_length=64)
                if name_property is None
                else self._resolver.resolve_string(name_property, f"{where}.Name")
            )
            account = self._resolver.account_id
            if event.type == "ScheduleV2":
                group = event.properties.get("GroupName")
                group_name = "default" if group is None else self._resolver.resolve_string(group, f"{where}.GroupName")
                arn = f"arn:{PARTITION}:scheduler:{self.region}:{account}:schedule/{group_name}/{name}"
            else:
                arn = f"arn:{PARTITION}:events:{self.region}:{account}:rule/{name}"
            schedules[event.name] = Schedule(
                arn=arn,
                interval_s=event.interval_s if self.schedule_interval_s is None else self.schedule_interval_s,
                input_json=None if event.input is None else self._input_json(event.input, f"{where}.Input"),
            )
        return schedules

    def _input_json(self, value: Any, where: str) -> str:
        assert self._resolver is not None
        text = self._resolver.resolve_string(value, where)
        try:
            json.loads(text)
        except ValueError as error:
            raise TemplateError(f"{where} must be JSON text: {error}") from None
        return text

    def _event_pollers(self, function: Function) -> dict[str, EventPoller]:
        assert self._resolver is not None and self._endpoint is not None
        pollers: dict[str, EventPoller] = {}
        session = local_session(self.region)
        pool = self._functions[function.logical_id]
        for event in function.events:
            name = f"{function.logical_id}.{event.name}"
            if isinstance(event, SqsEvent) and event.enabled:
                queue = self._source(event.queue, SQS_QUEUE, f"{name}.Queue")
                pollers[name] = SqsPoller(
                    name,
                    pool,
                    sqs=session.client("sqs", endpoint_url=self._endpoint.url),
                    queue_url=queue.ref,
                    queue_arn=queue.attributes["Arn"],
                    region=self.region,
                    batch_size=event.batch_size,
                    maximum_batching_window_s=event.maximum_batching_window_s,
                    report_batch_item_failures=event.report_batch_item_failures,
                )
            elif isinstance(event, KinesisEvent) and event.enabled:
                stream = self._source(event.stream, KINESIS_STREAM, f"{name}.Stream")
                pollers[name] = KinesisPoller(
                    name,
                    pool,
                    kinesis=session.client("kinesis", endpoint_url=self._endpoint.url),
                    stream_name=stream.ref,
                    stream_arn=stream.attributes["Arn"],
                    region=self.region,
                    starting_position=event.starting_position,
                    batch_size=event.batch_size,
                    maximum_batching_window_s=event.maximum_batching_window_s,
                    bisect_batch_on_function_error=event.bisect_batch_on_function_error,
                    report_batch_item_failures=event.report_batch_item_failures,
                    maximum_retry_attempts=event.maximum_retry_attempts,
                    on_failure=self._on_failure(session, event.on_failure, f"{name}.DestinationConfig.OnFailure"),
                    state=self._poller_state(name),
                )
            elif isinstance(event, DynamoDBEvent) and event.enabled:
                table = self._source(event.stream, DYNAMODB_TABLE, f"{name}.Stream", attribute="StreamArn")
                pollers[name] = DynamoDBStreamPoller(
                    name,
                    pool,
                    streams=session.client("dynamodbstreams", endpoint_url=self._endpoint.url),
                    stream_arn=table.attributes["StreamArn"],
                    region=self.region,
                    starting_position=event.starting_position,
                    batch_size=event.batch_size,
                    maximum_batching_window_s=event.maximum_batching_window_s,
                    bisect_batch_on_function_error=event.bisect_batch_on_function_error,
                    report_batch_item_failures=event.report_batch_item_failures,
                    maximum_retry_attempts=event.maximum_retry_attempts,
                    on_failure=self._on_failure(session, event.on_failure, f"{name}.DestinationConfig.OnFailure"),
                    filters=event.filters,
                    state=self._poller_state(name),
                )
            elif isinstance(event, ScheduleEvent) and event.enabled and self.run_schedules:
                schedule = self._schedules[function.logical_id][event.name]
                pollers[name] = SchedulePoller(name, pool, schedule=schedule, state=self._poller_state(name))
        return pollers

    def _poller_state(self, name: str) -> PollerState:
        """Where the poller `name` keeps its checkpoints or last run across restarts."""
        return PollerState(self.state_dir / POLLERS_DIR / f"{name}.json")

    def _source(self, value: Any, kind: str, where: str, *, attribute: str = "Arn") -> PhysicalResource:
        """The declared resource whose `attribute` the ARN `value` resolves to."""
        assert self._resolver is not None
        arn = self._resolver.resolve_string(value, where)
        for resource in self._resolver.resources.values():
            if resource.type == kind and resource.attributes.get(attribute) == arn:
                return resource
        raise TemplateError(f"{where}: {arn} is not the {attribute} of a {kind} declared in the template")

    def _on_failure(self, session: boto3.session.Session, value: Any, where: str) -> tuple[SQSClient, str] | None:
        """An SQS client and the URL of an on-failure destination queue, or None when there is none."""
        if value is None:
            return None
        assert self._endpoint is not None
        queue = self._source(value, SQS_QUEUE, where)
        return session.client("sqs", endpoint_url=self._endpoint.url), queue.ref

    def _write_state(self) -> None:
        """Record where the stack listens, so other local processes (CLI, workers) can find it."""
        assert self._resolver is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "stack_name": self.stack_name,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "api_url": self.api_url,
            "resources": {
                logical_id: {"type": r.type, "ref": r.ref, "attributes": dict(r.attributes)}
                for logical_id, r in self._resolver.resources.items()
            },
        }
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
