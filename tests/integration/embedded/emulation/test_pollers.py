from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from embedded.emulation.pollers import failed_item_ids
from tests.integration.embedded.emulation.conftest import queue_bodies, wait_for

if TYPE_CHECKING:
    import boto3

    from embedded.emulation.stack import LocalStack


def _deliveries(session: boto3.session.Session, stack: LocalStack, key: str) -> int:
    table = session.resource("dynamodb").Table(stack.table_name("DeliveriesTable"))
    item = table.get_item(Key={"pk": key}, ConsistentRead=True).get("Item")
    # moto may show an item its first update is still writing: no delivery is counted yet.
    return int(item.get("deliveries", 0)) if item else 0


def _queue_empty(session: boto3.session.Session, queue_url: str) -> bool:
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    )


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"id": "a"}]}, None),
        ({"batchItemFailures": "a"}, None),
        ("ok", None),
    ],
)
def test_batch_item_failures_are_read_as_lambda_reads_them(response: Any, expected: set[str] | None) -> None:
    assert failed_item_ids(response, {"a", "b"}) == expected


def test_reported_failure_is_redelivered_then_dead_lettered_while_batch_mates_run_once(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    orders = [{"id": f"{run}-ok-{i}", "outcome": "succeed"} for i in range(3)] + [
        {"id": f"{run}-bad", "outcome": "fail"}
    ]
    session.client("sqs").send_message_batch(
        QueueUrl=stack.queue_url("WorkQueue"),
        Entries=[{"Id": str(i), "MessageBody": json.dumps(order)} for i, order in enumerate(orders)],
    )
    dead = queue_bodies(session, stack.queue_url("WorkDeadLetterQueue"), 1)
    assert dead == [{"id": f"{run}-bad", "outcome": "fail"}]
    # maxReceiveCount is 2: two deliveries, each reported as failed, then the redrive on the third receive.
    assert _deliveries(session, stack, f"{run}-bad") == 2
    assert [_deliveries(session, stack, f"{run}-ok-{i}") for i in range(3)] == [1, 1, 1]
    assert wait_for(lambda: _queue_empty(session, stack.queue_url("WorkQueue")), what="an empty work queue")
    stats = stack.stats.pollers["WorkerFunction.Reported"]
    assert stats.records >= 5
    assert stats.failures >= 2
    assert stats.errors == 0


def test_exception_fails_the_whole_batch(stack: LocalStack, session: boto3.session.Session) -> None:
    run = uuid.uuid4().hex[:8]
    orders = [{"id": f"{run}-ok-{i}", "outcome": "succeed"} for i in range(2)] + [
        {"id": f"{run}-raise", "outcome": "raise"}
    ]
    session.client("sqs").send_message_batch(
        QueueUrl=stack.queue_url("PlainQueue"),
        Entries=[{"Id": str(i), "MessageBody": json.dumps(order)} for i, order in enumerate(orders)],
    )
    dead = queue_bodies(session, stack.queue_url("PlainDeadLetterQueue"), 3)
    assert sorted(order["id"] for order in dead) == sorted(order["id"] for order in orders)
    assert {order["id"]: _deliveries(session, stack, order["id"]) for order in orders} == {
        order["id"]: 2 for order in orders
    }
    assert stack.stats.pollers["WorkerFunction.Plain"].errors >= 2


def test_plain_queue_deletes_a_successful_batch(stack: LocalStack, session: boto3.session.Session) -> None:
    run = uuid.uuid4().hex[:8]
    sqs = session.client("sqs")
    for i in range(7):
        sqs.send_message(
            QueueUrl=stack.queue_url("PlainQueue"),
            MessageBody=json.dumps({"id": f"{run}-{i}", "outcome": "succeed"}),
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )
    wait_for(lambda: all(_deliveries(session, stack, f"{run}-{i}") == 1 for i in range(7)), what="seven deliveries")
    assert wait_for(lambda: _queue_empty(session, stack.queue_url("PlainQueue")), what="an empty plain queue")
    assert [_deliveries(session, stack, f"{run}-{i}") for i in range(7)] == [1] * 7


def test_kinesis_bisects_a_failing_batch_and_gives_up_on_the_poison_record(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    changes = [
        {"id": f"{run}-a", "outcome": "succeed"},
        {"id": f"{run}-b", "outcome": "succeed"},
        {"id": f"{run}-poison", "outcome": "raise"},
        {"id": f"{run}-c", "outcome": "succeed"},
    ]
    put = session.client("kinesis").put_records(
        StreamName=stack.stream_name("ChangesStream"),
        Records=[{"Data": json.dumps(change).encode(), "PartitionKey": "p"} for change in changes],
    )
    last_sequence = put["Records"][-1]["SequenceNumber"]
    poller = "StreamFunction.Changes"
    checkpoints = wait_for(
        lambda: (
            last_sequence in stack.stats.pollers[poller].checkpoints.values()
            and stack.stats.pollers[poller].checkpoints
        ),
        what="the checkpoint to reach the last record",
    )
    assert list(checkpoints.values()) == [last_sequence]
    assert stack.stats.pollers[poller].discarded == 1
    poison_sequence = put["Records"][2]["SequenceNumber"]
    failures = session.client("sqs").receive_message(QueueUrl=stack.queue_url("ChangesFailureQueue"), WaitTimeSeconds=1)
    batch_info = [json.loads(m["Body"])["KinesisBatchInfo"] for m in failures.get("Messages", [])]
    assert [(b["startSequenceNumber"], b["endSequenceNumber"], b["batchSize"]) for b in batch_info] == [
        (poison_sequence, poison_sequence, 1)
    ]
    assert batch_info[0]["streamArn"] == stack.physical_resource("ChangesStream").attributes["Arn"]
    # MaximumRetryAttempts is 1: the isolated poison record ran once, was retried once, then was given up.
    assert _deliveries(session, stack, f"change#{run}-poison") >= 3
    assert all(_deliveries(session, stack, f"change#{run}-{name}") >= 1 for name in "abc")


def test_sqs_record_has_lambdas_shape(stack: LocalStack, session: boto3.session.Session) -> None:
    from embedded.emulation.pollers import sqs_record

    sqs = session.client("sqs")
    queue_url = stack.queue_url("WorkDeadLetterQueue")
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="hello",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    (message,) = sqs.receive_message(
        QueueUrl=queue_url, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    record = sqs_record(dict(message), queue_arn=stack.queue_arn("WorkDeadLetterQueue"), region="us-east-1")
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == stack.queue_arn("WorkDeadLetterQueue")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "greeting", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
