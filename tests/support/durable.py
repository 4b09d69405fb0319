"""A process that changes what a durable local AWS endpoint holds, then dies by `kill -9`, or reads it all back.

`python -m tests.support.durable write STATE_DIR` starts an endpoint on STATE_DIR, makes changes in every service
the local stack uses, prints `written` and kills itself with SIGKILL, before any clean shutdown could save anything.
`python -m tests.support.durable read STATE_DIR` starts an endpoint on the same directory and prints, as one JSON
line, everything it finds. `python -m tests.support.durable full STATE_DIR LIMIT` writes one item with the state
directory's files limited to LIMIT bytes (as on a full disk) and prints what the endpoint answered.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from embedded.emulation.aws import LocalEndpoint

REGION = "us-east-1"
QUEUE, DEAD_LETTERS, TABLE, BUCKET, STREAM = "work", "work-dlq", "entries", "durable-bucket", "events"
LOCKED_UNTIL = "2035-01-01T00:00:00Z"


def _clients(url: str) -> dict[str, Any]:
    config = Config(retries={"max_attempts": 2, "mode": "standard"})
    options = {
        "endpoint_url": url,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "config": config,
    }
    return {name: boto3.client(name, **options) for name in ("sqs", "dynamodb", "dynamodbstreams", "s3", "kinesis")}  # type: ignore[call-overload]


def write(clients: dict[str, Any]) -> None:
    sqs, dynamodb, s3, kinesis = clients["sqs"], clients["dynamodb"], clients["s3"], clients["kinesis"]
    dead_letters = sqs.create_queue(QueueName=DEAD_LETTERS)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 2})
    queue = sqs.create_queue(QueueName=QUEUE, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "1"})[
        "QueueUrl"
    ]
    for body in ("first", "second", "third"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    (received,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1)["Messages"]
    assert received["Body"] == "first"
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for number in range(4):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"N": str(number)}, "v": {"S": f"v{number}"}})
    dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": "a"}, "sk": {"N": "0"}})
    dynamodb.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "updated"}},
    )
    put = {
        "TableName": TABLE,
        "Item": {"pk": {"S": "b"}, "sk": {"N": "1"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
    dynamodb.transact_write_items(TransactItems=[{"Put": put}])
    with contextlib.suppress(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[{"Put": put}])
    dynamodb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": {"pk": {"S": "c"}, "sk": {"N": "9"}}}}]})
    s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    s3.put_object(Bucket=BUCKET, Key="dir/a file.txt", Body=b"one")
    s3.put_object(Bucket=BUCKET, Key="dir/a file.txt", Body=b"two")
    s3.put_object(
        Bucket=BUCKET, Key="locked", Body=b"kept", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=LOCKED_UNTIL
    )
    s3.put_object(Bucket=BUCKET, Key="deleted", Body=b"gone")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "deleted"}]})
    kinesis.create_stream(StreamName=STREAM, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=STREAM, WaiterConfig={"Delay": 0.1})
    for number in range(3):
        kinesis.put_record(StreamName=STREAM, Data=f"record {number}".encode(), PartitionKey="p")


def read(clients: dict[str, Any]) -> dict[str, Any]:
    sqs, dynamodb, streams, s3, kinesis = (
        clients[name] for name in ("sqs", "dynamodb", "dynamodbstreams", "s3", "kinesis")
    )
    queue = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    # The first message's visibility timeout (1 s) runs out; then every message is visible.
    time.sleep(1.2)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    redrive = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    items = dynamodb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    versions = s3.list_object_versions(Bucket=BUCKET)
    locked = s3.head_object(Bucket=BUCKET, Key="locked")
    (kinesis_shard,) = kinesis.list_shards(StreamName=STREAM)["Shards"]
    kinesis_iterator = kinesis.get_shard_iterator(
        StreamName=STREAM, ShardId=kinesis_shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return {
        "messages": sorted((m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in messages),
        "dead_letter_target": json.loads(redrive)["deadLetterTargetArn"].rpartition(":")[2],
        "items": sorted((item["pk"]["S"], item["sk"]["N"], item.get("v", {}).get("S")) for item in items),
        "stream": [(record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"]) for record in records],
        "versions": sorted((v["Key"], v["IsLatest"]) for v in versions.get("Versions", [])),
        "delete_markers": [marker["Key"] for marker in versions.get("DeleteMarkers", [])],
        "latest": s3.get_object(Bucket=BUCKET, Key="dir/a file.txt")["Body"].read().decode(),
        "lock": [locked["ObjectLockMode"], locked["ObjectLockRetainUntilDate"].isoformat()],
        "kinesis": [r["Data"].decode() for r in kinesis.get_records(ShardIterator=kinesis_iterator)["Records"]],
    }


def full(clients: dict[str, Any], state_dir: Path, limit: int) -> dict[str, Any]:
    """A batch of 25 large items with files limited to `limit` bytes more: what was answered, what was applied.

    The batch is larger than the room the journal keeps ahead, so it must grow the journal first, and cannot.
    """
    dynamodb = clients["dynamodb"]
    dynamodb.create_table(
        TableName="small",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    used = sum(path.stat().st_size for path in state_dir.iterdir())
    resource.setrlimit(resource.RLIMIT_FSIZE, (used + limit, resource.RLIM_INFINITY))
    writes = [{"PutRequest": {"Item": {"pk": {"S": f"item-{n}"}, "blob": {"S": "y" * 380_000}}}} for n in range(25)]
    try:
        dynamodb.batch_write_item(RequestItems={"small": writes})
        answer = "stored"
    except ClientError as error:
        answer = error.response["Error"]["Code"]
    items = dynamodb.scan(TableName="small", ConsistentRead=True)["Items"]
    return {"answer": answer, "applied": len(items)}


def main() -> None:
    mode, state_dir = sys.argv[1], Path(sys.argv[2])
    endpoint = LocalEndpoint(state_dir=state_dir)
    endpoint.start()
    clients = _clients(endpoint.url)
    if mode == "write":
        write(clients)
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "full":
        print(json.dumps(full(clients, state_dir, int(sys.argv[3]))), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        print(json.dumps(read(clients)), flush=True)
        endpoint.stop()


if __name__ == "__main__":
    main()
