"""TransactWriteItems on the local endpoint: all or nothing, isolated from concurrent requests, seen by the stream."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.embedded.emulation.conftest import entry_delivered, entry_deliveries

if TYPE_CHECKING:
    import boto3

    from embedded.emulation.stack import LocalStack


def _put(table: str, key: str, **extra: Any) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": {"pk": {"S": key}, "kind": {"S": "entry"}, "outcome": {"S": "succeed"}},
            "ConditionExpression": "attribute_not_exists(pk)",
            **extra,
        }
    }


def test_a_cancelled_transaction_writes_nothing_and_the_stream_goes_on(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    dynamodb = session.client("dynamodb")
    table = stack.table_name("EntriesTable")
    dynamodb.transact_write_items(TransactItems=[_put(table, f"{run}-first")])
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                _put(table, f"{run}-never"),
                _put(table, f"{run}-first", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
            ]
        )
    error = cancelled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    reasons = error["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["pk"] == {"S": f"{run}-first"}
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": f"{run}-never"}}, ConsistentRead=True)
    # The stream is the table's still: what is written after the cancelled transaction reaches the function.
    dynamodb.transact_write_items(TransactItems=[_put(table, f"{run}-after")])
    stack.settle_streams()
    assert [entry_deliveries(session, stack, f"{run}-{name}") for name in ("first", "after")] == [1, 1]
    assert entry_delivered(session, stack, f"{run}-never") is None


def test_concurrent_transactions_all_commit_once_and_one_key_is_accepted_once(
    stack: LocalStack, session: boto3.session.Session
) -> None:
    run = uuid.uuid4().hex[:8]
    table = stack.table_name("EntriesTable")

    def accept(index: int) -> str:
        dynamodb = session.client("dynamodb")
        try:
            dynamodb.transact_write_items(
                TransactItems=[_put(table, f"{run}-request-{index % 4}"), _put(table, f"{run}-bundle-{index}")]
            )
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "accepted"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(accept, range(32)))
    # Four request keys: each is accepted once, every other attempt at it is cancelled, and nothing fails.
    assert outcomes.count("accepted") == 4
    assert outcomes.count("TransactionCanceledException") == 28
    stack.settle_streams()
    accepted = [index for index, outcome in enumerate(outcomes) if outcome == "accepted"]
    assert sorted(index % 4 for index in accepted) == [0, 1, 2, 3]
    assert [entry_deliveries(session, stack, f"{run}-bundle-{index}") for index in accepted] == [1] * 4
    cancelled = set(range(32)) - set(accepted)
    assert all(entry_delivered(session, stack, f"{run}-bundle-{index}") is None for index in cancelled)
