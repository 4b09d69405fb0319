"""One local stack, started from the fixture template, shared by the tests of this folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
import pytest

from embedded.emulation.stack import LocalStack

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = FIXTURES / "template.yaml"

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout_s: float = 20.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy; fail after a generous timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def queue_bodies(session: boto3.session.Session, queue_url: str, expected: int) -> list[dict[str, Any]]:
    """Receive (and delete) JSON messages from a queue nothing consumes until `expected` of them have come."""
    sqs = session.client("sqs")
    seen: dict[str, dict[str, Any]] = {}

    def probe() -> bool:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            seen[message["MessageId"]] = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(seen) >= expected

    wait_for(probe, timeout_s=30, what=f"{expected} messages in {queue_url}")
    return list(seen.values())


def entry_delivered(session: boto3.session.Session, stack: LocalStack, key: str) -> dict[str, Any] | None:
    """What the fixture entries function recorded of the entry `key`: its deliveries and the record it last got."""
    table = session.resource("dynamodb").Table(stack.table_name("DeliveriesTable"))
    item: dict[str, Any] | None = table.get_item(Key={"pk": f"entry#{key}"}, ConsistentRead=True).get("Item")
    return item


def entry_deliveries(session: boto3.session.Session, stack: LocalStack, key: str) -> int:
    """How many times the fixture entries function was given the entry `key`."""
    item = entry_delivered(session, stack, key)
    # moto may show an item its first update is still writing: no delivery is counted yet.
    return int(item.get("deliveries", 0)) if item else 0


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(TEMPLATE, state_dir=tmp_path_factory.mktemp("state"), stack_name="fixture") as running:
        yield running


@pytest.fixture(scope="package")
def session(stack: LocalStack) -> boto3.session.Session:
    return boto3.session.Session(region_name=stack.region)
