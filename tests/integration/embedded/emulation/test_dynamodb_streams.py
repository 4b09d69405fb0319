"""The DynamoDB Streams event source mapping: a table's changes reach the function as Lambda sends them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import TYPE_CHECKING

import pytest

from embedded.emulation.exceptions import StreamsBehindError
from tests.integration.embedded.emulation.conftest import entry_delivered, entry_deliveries, queue_bodies

if TYPE_CHECKING:
    import boto3

    from embedded.emulation.stack import LocalStack

POLLER = "EntriesFunction.Accepted"


def _write(session: boto3.session.Session, stack: LocalStack, entries: list[tuple[str, str]]) -> None:
    """One transaction putting an `entry` item per (key, outcome), as a decision is accepted in one write."""
    table = stack.table_name("EntriesTable")
    session.client("dynamodb").transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": table,
                    "Item": {"pk": {"S": key}, "kind": {"S": "entry"}, "outcome": {"S": outcome}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for key, outcome in entries
        ]
    )


def _stream_sequences(session: boto3.session.Session, stack: LocalStack) -> tuple[str, list[str]]:
    """The shard of the entries table's stream and the sequence number of every record on it, read directly."""
    streams = session.client("dynamodbstreams")
    arn = stack.physical_resource("EntriesTable").attributes["StreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    sequences: list[str] = []
    current = iterator["ShardIterator"]
    while True:
        response = streams.get_records(ShardIterator=current, Limit=1000)
        if not response["Records"]:
            return shard["ShardId"], sequences
        sequences += [record["dynamodb"]["SequenceNumber"] for record in response["Records"]]
        current = response["NextShardIterator"]


def test_a_new_item_reaches_the_function_in_lambdas_dynamodb_streams_event_shape(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    key = uuid.uuid4().hex
    session.client("dynamodb").put_item(
        TableName=stack.table_name("EntriesTable"),
        Item={
            "pk": {"S": key},
            "kind": {"S": "entry"},
            "outcome": {"S": "succeed"},
            "amount": {"N": "12.5"},
            "blob": {"B": b"\x00\x01"},
            "nested": {"M": {"flags": {"L": [{"BOOL": True}, {"NULL": True}]}, "tags": {"SS": ["a", "b"]}}},
        },
    )
    stack.settle_streams()
    delivered = entry_delivered(session, stack, key)
    assert delivered is not None
    record = json.loads(delivered["received"])
    stream_arn = stack.physical_resource("EntriesTable").attributes["StreamArn"]
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert (record["eventName"], record["eventSource"], record["awsRegion"]) == ("INSERT", "aws:dynamodb", "us-east-1")
    assert record["eventSourceARN"] == stream_arn
    change = record["dynamodb"]
    assert set(change) == {
        "ApproximateCreationDateTime",
        "Keys",
        "NewImage",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert isinstance(change["ApproximateCreationDateTime"], int)
    assert change["Keys"] == {"pk": {"S": key}}
    assert change["StreamViewType"] == "NEW_IMAGE"
    assert change["NewImage"]["amount"] == {"N": "12.5"}
    assert base64.b64decode(change["NewImage"]["blob"]["B"]) == b"\x00\x01"
    assert change["NewImage"]["nested"]["M"]["flags"] == {"L": [{"BOOL": True}, {"NULL": True}]}
    assert sorted(change["NewImage"]["nested"]["M"]["tags"]["SS"]) == ["a", "b"]
    assert change["SequenceNumber"].isdigit() and change["SizeBytes"] > 0


def test_records_no_filter_matches_are_skipped_and_checkpointed_past(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    dynamodb = session.client("dynamodb")
    table = stack.table_name("EntriesTable")
    _write(session, stack, [(f"{run}-kept", "succeed")])
    filtered_before = stack.stats.pollers[POLLER].filtered
    # A later change of the same entry (MODIFY), and a new item of another kind: neither matches the pattern.
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"{run}-kept"}},
        UpdateExpression="SET note = :note",
        ExpressionAttributeValues={":note": {"S": "changed"}},
    )
    dynamodb.put_item(TableName=table, Item={"pk": {"S": f"{run}-note"}, "kind": {"S": "note"}, "outcome": {"S": "x"}})
    stack.settle_streams()
    shard, sequences = _stream_sequences(session, stack)
    stats = stack.stats.pollers[POLLER]
    assert stats.checkpoints[shard] == sequences[-1], "the checkpoint stopped before the skipped records"
    assert stats.filtered - filtered_before >= 2
    assert entry_deliveries(session, stack, f"{run}-kept") == 1
    assert entry_delivered(session, stack, f"{run}-note") is None


def test_transactional_writes_reach_the_function_once_each(stack: LocalStack, session: boto3.session.Session) -> None:
    run = uuid.uuid4().hex[:8]
    keys = [f"{run}-{index}" for index in range(6)]
    _write(session, stack, [(key, "succeed") for key in keys])
    stack.settle_streams()
    assert [entry_deliveries(session, stack, key) for key in keys] == [1] * 6


def test_a_reported_failure_restarts_the_batch_from_it_then_is_given_up_to_the_failure_queue(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    _write(session, stack, [(f"{run}-before", "succeed"), (f"{run}-failing", "fail"), (f"{run}-after", "succeed")])
    stack.settle_streams()
    # Lambda restarts from the lowest failed sequence number: the record before it ran once, the failing one and
    # the one after it twice (MaximumRetryAttempts is 1), then both were given up together.
    assert [entry_deliveries(session, stack, f"{run}-{name}") for name in ("before", "failing", "after")] == [1, 2, 2]
    failing = json.loads(entry_delivered(session, stack, f"{run}-failing")["received"])  # type: ignore[index]
    after = json.loads(entry_delivered(session, stack, f"{run}-after")["received"])  # type: ignore[index]
    (failure,) = queue_bodies(session, stack.queue_url("EntriesFailureQueue"), 1)
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        failing["dynamodb"]["SequenceNumber"],
        after["dynamodb"]["SequenceNumber"],
        2,
    )
    assert info["streamArn"] == stack.physical_resource("EntriesTable").attributes["StreamArn"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"] == stack.function("EntriesFunction").arn


def test_a_function_error_bisects_the_batch_down_to_the_poison_record(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    _write(session, stack, [(f"{run}-a", "succeed"), (f"{run}-b", "succeed"), (f"{run}-poison", "raise")])
    _write(session, stack, [(f"{run}-c", "succeed")])
    discarded = stack.stats.pollers[POLLER].discarded
    # The poison is retried with a backoff while it fails: the reader is behind until it is given up.
    with pytest.raises(StreamsBehindError, match=rf"{POLLER} shardId-"):
        stack.settle_streams(timeout_s=0.05)
    stack.settle_streams()
    (failure,) = queue_bodies(session, stack.queue_url("EntriesFailureQueue"), 1)
    poison = json.loads(entry_delivered(session, stack, f"{run}-poison")["received"])  # type: ignore[index]
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        poison["dynamodb"]["SequenceNumber"],
        poison["dynamodb"]["SequenceNumber"],
        1,
    )
    assert stack.stats.pollers[POLLER].discarded == discarded + 1
    # Bisection spends no retries: the poison ran in every half that held it, then once more as its one retry.
    assert entry_deliveries(session, stack, f"{run}-poison") >= 3
    assert all(entry_deliveries(session, stack, f"{run}-{name}") >= 1 for name in "abc")
