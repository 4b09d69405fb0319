"""DynamoDB's isolation and transactions in moto's threaded server, as DynamoDB gives them.

moto 5 serves requests on threads without isolating them, and runs `TransactWriteItems` by deep-copying every
table it touches, applying the writes one by one and putting the copies back if one fails. Under concurrent
requests that breaks what the decision path relies on: a copy taken while another request writes fails the
transaction with a 500; putting a copy back loses the writes other requests made meanwhile; the copy carries
its own stream shard, so every stream reader, still on the table's old shard, sees no record after the first
cancelled transaction (an idempotent replay is one); and each transaction costs a copy of the whole table.

`install()` makes each DynamoDB and DynamoDB Streams request run alone (moto computes under the GIL anyway, so
this costs little), and replaces the transaction with one that keeps the table: it notes the items it touches
and the length of each table's stream, applies the writes, and when one fails or a condition is not met puts
those items back in place and drops the stream records it added, then cancels with the reasons in order, as
DynamoDB does. No reader sees a transaction's stream records before it has committed.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import TYPE_CHECKING, Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

if TYPE_CHECKING:
    from collections.abc import Callable

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table

# DynamoDB's own limit of actions in one transaction.
MAX_ACTIONS = 100
_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
# One request at a time, across DynamoDB and its streams; reentrant, as a transaction calls the item operations.
_REQUESTS = threading.RLock()
_installed = threading.Lock()


def _isolated(call_action: Callable[[Any], Any]) -> Callable[[Any], Any]:
    @functools.wraps(call_action)
    def call_alone(handler: Any) -> Any:
        with _REQUESTS:
            return call_action(handler)

    call_alone.__dict__["leaim_isolated"] = True
    return call_alone


class _Undo:
    """What a transaction changed, to put it back: each touched item as it was, each stream's length before."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], tuple[Table, DynamoType, DynamoType | None, Item | None]] = {}
        self.streams: dict[int, tuple[Any, int]] = {}

    def note(self, table_name: str, table: Table, hash_key: DynamoType, range_key: DynamoType | None) -> None:
        if table.stream_shard is not None:
            self.streams.setdefault(id(table.stream_shard), (table.stream_shard, len(table.stream_shard.items)))
        identity = (table_name, f"{hash_key}|{range_key}")
        current = table.get_item(hash_key, range_key)
        self.items.setdefault(identity, (table, hash_key, range_key, copy.deepcopy(current)))

    def apply(self) -> None:
        for table, hash_key, range_key, item in self.items.values():
            if item is None:
                if range_key is not None:
                    table.items[hash_key].pop(range_key, None)
                else:
                    table.items.pop(hash_key, None)
            elif range_key is not None:
                table.items[hash_key][range_key] = item
            else:
                table.items[hash_key] = item  # type: ignore[assignment]
        for shard, length in self.streams.values():
            del shard.items[length:]


def _key(backend: DynamoDBBackend, operation: str, action: dict[str, Any]) -> tuple[Table, dict[str, Any]]:
    table = backend.get_table(action["TableName"])
    if operation != "Put":
        return table, action["Key"]
    attributes = action["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return table, key


def _write(backend: DynamoDBBackend, operation: str, action: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = action["TableName"]
    condition = action.get("ConditionExpression")
    names = action.get("ExpressionAttributeNames")
    values = action.get("ExpressionAttributeValues")
    if operation == "Put":
        backend.put_item(
            table_name,
            action["Item"],
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif operation == "Delete":
        backend.delete_item(
            table_name,
            key,
            condition_expression=condition,
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif operation == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=action["UpdateExpression"],
            condition_expression=condition,
            expression_attribute_names=names or {},
            expression_attribute_values=values or {},
        )


def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """DynamoDB's `TransactWriteItems`: every action or none, cancelled with a reason per action."""
    if len(transact_items) > MAX_ACTIONS:
        raise TooManyTransactionsException()
    undo = _Undo()
    targets: set[tuple[str, str]] = set()
    reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    with _REQUESTS:
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            operation, action = next(iter(entry.items()))
            current_item: dict[str, Any] | None = None
            try:
                if operation not in _OPERATIONS:
                    raise ValueError("Unsupported transaction operation")
                table, key = _key(backend, operation, action)
                target = (str(action["TableName"]), str(dict(sorted(key.items()))))
                if target in targets:
                    raise MultipleTransactionsException()
                targets.add(target)
                hash_key, range_key = backend.get_keys_value(table, key)
                current = table.get_item(hash_key, range_key)
                condition = action.get("ConditionExpression")
                if condition is not None and not get_filter_expression(
                    condition, action.get("ExpressionAttributeNames"), action.get("ExpressionAttributeValues")
                ).expr(current):
                    if action.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                        current_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=current_item)
                undo.note(str(action["TableName"]), table, hash_key, range_key)
                _write(backend, operation, action, key)
                reasons.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                undo.apply()
                raise
            except ConditionalCheckFailed as error:
                reasons.append(("ConditionalCheckFailed", str(error.message), current_item))
            except Exception as error:
                reasons.append((type(error).__name__, str(error), current_item))
        if any(code is not None for code, _, _ in reasons):
            undo.apply()
            raise TransactionCanceledException(reasons)


def dynamodb_turn() -> threading.RLock:
    """The lock each DynamoDB and DynamoDB Streams request holds while it runs: hold it to see no change halfway."""
    return _REQUESTS


def install() -> None:
    """Give moto's DynamoDB the isolation and transactions above, once per process (its backends are global)."""
    with _installed:
        if getattr(DynamoHandler.call_action, "leaim_isolated", False):
            return
        DynamoHandler.call_action = _isolated(DynamoHandler.call_action)  # type: ignore[method-assign]
        DynamoDBStreamsHandler.call_action = _isolated(  # type: ignore[method-assign,assignment]
            DynamoDBStreamsHandler.call_action
        )
        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign,assignment]
