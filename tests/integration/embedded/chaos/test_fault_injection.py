"""The endpoint's fault injection, seen by real boto3 clients: AWS errors they parse, and retry as AWS makes them.

moto's own WSGI application runs behind the middleware on a werkzeug server of the test's own, on 127.0.0.1.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from embedded.emulation.faults import REFUSALS, Fault, FaultControl, FaultInjector, FaultSpecError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from embedded.emulation.faults import FaultKind, Service

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    def __init__(self, injector: FaultInjector, url: str, clock: FakeClock) -> None:
        self.injector = injector
        self.url = url
        self.clock = clock

    def client(self, service: str, config: Config = NO_RETRIES) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
        )


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    clock = FakeClock()
    injector = FaultInjector(DomainDispatcherApplication(create_backend_app), seed=3, clock=clock)
    server = make_server("127.0.0.1", 0, injector, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Endpoint(injector, f"http://127.0.0.1:{server.server_port}", clock)
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _calls(endpoint: Endpoint) -> dict[Service, Callable[[Any], Any]]:
    """One call per service, on resources made before any fault is injected (moto's backends are per process)."""
    name = f"faults-{uuid.uuid4().hex[:8]}"
    dynamodb = endpoint.client("dynamodb")
    table = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    stream_arn = table["TableDescription"]["LatestStreamArn"]
    endpoint.client("s3").create_bucket(Bucket=name)
    queue_url = endpoint.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    endpoint.client("kinesis").create_stream(StreamName=name, ShardCount=1)
    return {
        "dynamodb": lambda c: c.put_item(TableName=name, Item={"pk": {"S": "a"}}),
        "dynamodbstreams": lambda c: c.describe_stream(StreamArn=stream_arn),
        "s3": lambda c: c.put_object(Bucket=name, Key="k", Body=b"v"),
        "sqs": lambda c: c.send_message(QueueUrl=queue_url, MessageBody="m"),
        "kinesis": lambda c: c.put_record(StreamName=name, Data=b"d", PartitionKey="p"),
    }


CASES = [(service, kind) for service, kinds in REFUSALS.items() for kind in kinds]


@pytest.mark.parametrize(("service", "kind"), CASES)
def test_a_fault_answers_the_services_own_error(endpoint: Endpoint, service: Service, kind: FaultKind) -> None:
    calls = _calls(endpoint)
    endpoint.injector.inject(Fault(service, kind))
    refusal = REFUSALS[service][kind]
    with pytest.raises(ClientError) as raised:
        calls[service](endpoint.client(service))
    assert raised.value.response["Error"]["Code"] == refusal.code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == refusal.status
    for other, call in calls.items():
        if other != service:
            call(endpoint.client(other))


@pytest.mark.parametrize(
    ("service", "kind"),
    [
        ("dynamodb", "throttle"),
        ("dynamodb", "error"),
        ("s3", "throttle"),
        ("sqs", "throttle"),
        ("kinesis", "unavailable"),
    ],
)
def test_botocore_retries_a_partial_fault_through(endpoint: Endpoint, service: Service, kind: FaultKind) -> None:
    calls = _calls(endpoint)
    endpoint.injector.inject(Fault(service, kind, rate=0.5))
    retrying = Config(retries={"max_attempts": 20, "mode": "standard"}, connect_timeout=2, read_timeout=5)
    client = endpoint.client(service, retrying)
    for _ in range(6):
        calls[service](client)
    (active,) = endpoint.injector.active()
    assert active["refused"] > 0
    assert active["seen"] == active["refused"] + 6


def test_a_fault_ends_after_its_duration(endpoint: Endpoint) -> None:
    calls = _calls(endpoint)
    endpoint.injector.inject(Fault("sqs", "error", duration_s=5))
    with pytest.raises(ClientError):
        calls["sqs"](endpoint.client("sqs"))
    endpoint.clock.now += 5
    calls["sqs"](endpoint.client("sqs"))
    assert endpoint.injector.active() == []


def test_the_control_route_injects_lists_and_lifts_faults(endpoint: Endpoint) -> None:
    calls = _calls(endpoint)
    control = FaultControl(endpoint.url)
    control.inject(Fault("dynamodb", "throttle", rate=1.0, duration_s=30))
    control.inject(Fault("s3", "error"))
    with pytest.raises(ClientError):
        calls["dynamodb"](endpoint.client("dynamodb"))
    listed = {fault["service"]: fault for fault in control.active()}
    assert listed["dynamodb"]["refused"] == 1 and listed["dynamodb"]["remaining_s"] == 30
    assert listed["s3"]["remaining_s"] is None
    assert [fault["service"] for fault in control.lift("dynamodb")] == ["s3"]
    calls["dynamodb"](endpoint.client("dynamodb"))
    assert control.lift() == []
    calls["s3"](endpoint.client("s3"))


def test_the_control_route_refuses_a_fault_it_cannot_inject(endpoint: Endpoint) -> None:
    request = urllib.request.Request(
        f"{endpoint.url}/_leaim/faults", data=b'{"service": "lambda", "kind": "error"}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 400
    assert "service must be one of" in raised.value.read().decode()
    assert endpoint.injector.active() == []


@pytest.mark.parametrize(
    "spec",
    [
        {"service": "s3", "kind": "error", "rate": 0},
        {"service": "s3", "kind": "error", "rate": 1.5},
        {"service": "s3", "kind": "crash"},
        {"service": "s3", "kind": "error", "duration_s": -1},
        {"service": "s3", "kind": "error", "extra": 1},
        {"service": "s3"},
    ],
)
def test_a_fault_spec_is_checked(spec: dict[str, object]) -> None:
    with pytest.raises(FaultSpecError):
        Fault.from_json(spec)
