"""The S3 and DynamoDB adapters of ingestion, against moto's server with real boto3 clients.

Tables are created with the key schema `template.yaml` declares, so the tests cannot drift from the stack.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from moto.s3.models import s3_backends

from embedded.emulation.aws import ACCOUNT_ID, LocalEndpoint, local_session
from embedded.emulation.template import load_template
from leaim.adapters.dynamodb import DynamoFeatureStore, DynamoRecordLedger
from leaim.adapters.exceptions import ObjectStoreUnavailableError
from leaim.adapters.s3 import S3ObjectStore
from leaim.adapters.sqs import SqsDeadLetterSink
from leaim.data.ports import LedgerEntry, OnlineUpdate
from tests.support.paths import TEMPLATE

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"
WHEN = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(endpoint: LocalEndpoint, service: str) -> Any:
    return local_session(REGION).client(service, endpoint_url=endpoint.url)  # type: ignore[call-overload]


def create_table(endpoint: LocalEndpoint, logical_id: str) -> tuple[str, Any]:
    """A fresh table with the key schema the template gives `logical_id`, and a client for it."""
    properties = load_template(TEMPLATE).resources[logical_id].properties
    dynamodb = client(endpoint, "dynamodb")
    name = f"{logical_id}-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
    )
    return name, dynamodb


@pytest.fixture
def bucket(endpoint: LocalEndpoint) -> tuple[str, Any]:
    s3 = client(endpoint, "s3")
    name = f"ingest-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name, s3


def test_put_if_absent_never_overwrites(bucket: tuple[str, Any]) -> None:
    name, s3 = bucket
    store = S3ObjectStore(name, s3)
    key = "snapshots/transactions/s-1/manifest.json"
    assert store.put(key, b"first", content_type="application/json", if_absent=True) is True
    assert store.put(key, b"second", content_type="application/json", if_absent=True) is False
    assert store.get(key) == b"first"
    assert s3.head_object(Bucket=name, Key=key)["ContentType"] == "application/json"
    assert store.put(key, b"third", content_type="application/json") is True
    assert store.get(key) == b"third"


def test_a_missing_object_is_none_and_delete_removes(bucket: tuple[str, Any]) -> None:
    name, s3 = bucket
    store = S3ObjectStore(name, s3)
    assert store.get("quarantine/transactions/nothing.json") is None
    store.put("quarantine/transactions/q.json", b"{}", content_type="application/json")
    store.delete("quarantine/transactions/q.json")
    assert store.get("quarantine/transactions/q.json") is None
    assert store.keys("quarantine/") == []


def test_keys_page_past_a_thousand_in_lexical_order(bucket: tuple[str, Any]) -> None:
    name, s3 = bucket
    store = S3ObjectStore(name, s3)
    # One more page than S3's 1000 keys per listing. moto's server takes ~8 ms a PUT, so the first thousand are
    # seeded straight into its in-process backend; the rest go through the adapter.
    keys = [f"quarantine/transactions/{index:05d}.json" for index in range(1010)]
    seeded = s3_backends[ACCOUNT_ID]["aws"]
    for key in keys[:1000]:
        seeded.put_object(name, key, b"{}")
    store.put_many(dict.fromkeys(keys[1000:], b"{}"), content_type="application/json")
    store.put("quarantine/other/00000.json", b"{}", content_type="application/json")
    store.put("offline/transactions/x.parquet", b"x", content_type="application/vnd.apache.parquet")

    assert store.keys("quarantine/transactions/") == keys
    assert store.keys("quarantine/transactions/", limit=1005) == keys[:1005]
    assert store.keys("quarantine/transactions/", limit=1000) == keys[:1000]
    assert store.keys("quarantine/transactions/", start_after=keys[4], limit=1001) == keys[5:1006]
    assert store.keys("quarantine/transactions/", start_after=keys[1000]) == keys[1001:]
    assert store.keys("quarantine/transactions/", start_after=keys[-1]) == []
    assert store.keys("quarantine/", limit=3) == ["quarantine/other/00000.json", *keys[:2]]
    assert store.get(keys[1005]) == b"{}"


def test_an_unreachable_bucket_is_a_dependency_error(endpoint: LocalEndpoint) -> None:
    store = S3ObjectStore(f"missing-{uuid.uuid4().hex[:8]}", client(endpoint, "s3"))
    with pytest.raises(ObjectStoreUnavailableError):
        store.put("offline/x", b"x", content_type="application/octet-stream")
    with pytest.raises(ObjectStoreUnavailableError):
        store.keys("offline/")


@pytest.fixture
def ledger(endpoint: LocalEndpoint) -> DynamoRecordLedger:
    name, dynamodb = create_table(endpoint, "IngestLedgerTable")
    return DynamoRecordLedger(name, dynamodb)


def test_claimed_records_are_found_by_lookup(ledger: DynamoRecordLedger) -> None:
    entries = {
        f"tx-{index}": LedgerEntry(f"digest-{index}", f"offline/t/date=2026-03-01/b{index % 3}") for index in range(130)
    }
    assert ledger.claim("transactions", entries) == set()
    found = ledger.lookup("transactions", [*entries, "tx-never", "tx-0"])
    assert found == entries
    assert ledger.lookup("payments", list(entries)) == {}
    # Claiming the same entries again (a retried delivery) loses nothing.
    assert ledger.claim("transactions", dict(list(entries.items())[:5])) == set()


@pytest.fixture
def features(endpoint: LocalEndpoint) -> DynamoFeatureStore:
    name, dynamodb = create_table(endpoint, "FeaturesTable")
    return DynamoFeatureStore(name, dynamodb)


def update(entity: str, avg: float, when: datetime) -> OnlineUpdate:
    return OnlineUpdate(
        entity=entity,
        features={"avg_amount_30d": avg, "txn_count_24h": 3, "home_country": "DE"},
        feature_version="fv-test",
        event_time=when,
    )


def test_put_latest_keeps_the_newest_event(features: DynamoFeatureStore) -> None:
    assert features.put_latest("card_fraud", [update("tok_a", 10.0, WHEN), update("tok_b", 20.0, WHEN)]) == 0
    assert features.get("card_fraud", "tok_a") == {"avg_amount_30d": 10, "txn_count_24h": 3, "home_country": "DE"}

    newer = update("tok_a", 12.5, WHEN + timedelta(seconds=1))
    older = update("tok_b", 99.0, WHEN - timedelta(days=1))
    assert features.put_latest("card_fraud", [newer, older]) == 1
    assert features.get("card_fraud", "tok_a") == {"avg_amount_30d": 12.5, "txn_count_24h": 3, "home_country": "DE"}
    assert features.get("card_fraud", "tok_b") == {"avg_amount_30d": 20, "txn_count_24h": 3, "home_country": "DE"}
    # The same event time again (a retried delivery) is applied, not counted as late.
    assert features.put_latest("card_fraud", [update("tok_b", 20.0, WHEN)]) == 0
    assert features.get("card_fraud", "tok_b") == {"avg_amount_30d": 20, "txn_count_24h": 3, "home_country": "DE"}
    assert features.get("card_fraud", "tok_unknown") is None
    assert features.get("other_use_case", "tok_a") is None


def test_put_latest_orders_by_instant_not_by_offset(features: DynamoFeatureStore) -> None:
    features.put_latest("card_fraud", [update("tok_c", 1.0, WHEN)])
    # 10:30+02:00 is 08:30 UTC: half an hour before the stored event, so it is skipped.
    earlier_elsewhere = update("tok_c", 2.0, datetime(2026, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=2))))
    assert features.put_latest("card_fraud", [earlier_elsewhere]) == 1
    assert features.get("card_fraud", "tok_c") == {"avg_amount_30d": 1, "txn_count_24h": 3, "home_country": "DE"}


def test_put_latest_replaces_an_item_written_without_an_event_time(endpoint: LocalEndpoint) -> None:
    name, dynamodb = create_table(endpoint, "FeaturesTable")
    # An item as an older release wrote it: no `event_time_us` to compare with.
    dynamodb.put_item(
        TableName=name,
        Item={
            "pk": {"S": "card_fraud#tok_old"},
            "features": {"M": {"avg_amount_30d": {"N": "1"}, "txn_count_24h": {"N": "1"}, "home_country": {"S": "FR"}}},
            "feature_version": {"S": "fv-old"},
        },
    )
    store = DynamoFeatureStore(name, dynamodb)
    assert store.put_latest("card_fraud", [update("tok_old", 30.0, WHEN)]) == 0
    assert store.get("card_fraud", "tok_old") == {"avg_amount_30d": 30, "txn_count_24h": 3, "home_country": "DE"}
    item = dynamodb.get_item(TableName=name, Key={"pk": {"S": "card_fraud#tok_old"}})["Item"]
    assert item["feature_version"] == {"S": "fv-test"}
    assert "event_time_us" in item


def test_a_dead_letter_with_ten_attributes_and_a_control_character_is_sent(endpoint: LocalEndpoint) -> None:
    sqs = client(endpoint, "sqs")
    url = sqs.create_queue(QueueName=f"ingest-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    attributes = {f"attribute_{index}": f"value {index}" for index in range(10)}

    SqsDeadLetterSink(url, sqs).send('{"record": 1}', attributes, "record.amount \u0001 is not a number")

    [received] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=0)["Messages"]
    kept = received["MessageAttributes"]
    assert received["Body"] == '{"record": 1}'
    # SQS takes at most ten attributes a message and no control characters in their values.
    assert len(kept) <= 10
    assert kept["failure_reason"]["StringValue"] == "record.amount ? is not a number"
    assert "failed_at" in kept
    assert all(kept[name]["StringValue"] == value for name, value in attributes.items() if name in kept)
