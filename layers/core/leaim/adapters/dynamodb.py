"""DynamoDB adapters: the online feature store and the API key table."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.adapters.exceptions import FeatureStoreUnavailableError, LedgerUnavailableError
from leaim.data.ports import LedgerEntry
from leaim.exceptions import DependencyUnavailableError, RecordExistsError
from leaim.governance.ports import EVERY, ApiKeyRecord

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from leaim.data.ports import OnlineUpdate
    from leaim.governance.ports import Principal

# DynamoDB's limits per BatchGetItem and per BatchWriteItem call.
BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25
# Conditional writes in flight at once: each is mostly a network round trip.
PARALLEL_WRITES = 8
_ROUNDS = 5


def _from_dynamo(value: Any) -> float | int | str:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value) if not isinstance(value, (int, float)) else value


def _to_dynamo(value: float | int | str) -> Decimal | str:
    if isinstance(value, bool):
        raise TypeError("online features are numbers or categories, not booleans")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    return value


class DynamoFeatureStore:
    """Latest features per entity, keyed `<use_case>#<entity_id>`, with feature version and event time."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def get(self, use_case: str, entity_id: str) -> dict[str, float | int | str] | None:
        """Latest features of one entity, or None."""
        try:
            answer = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": f"{use_case}#{entity_id}"}}, ConsistentRead=False
            )
        except (BotoCoreError, ClientError) as error:
            raise FeatureStoreUnavailableError(str(error)) from error
        item = answer.get("Item")
        if item is None:
            return None
        return {name: _from_dynamo(_plain(value)) for name, value in item.get("features", {}).get("M", {}).items()}

    def put(
        self,
        use_case: str,
        entity_id: str,
        features: Mapping[str, float | int | str],
        *,
        feature_version: str = "v1",
        event_time: datetime | None = None,
    ) -> None:
        """Store the latest features of one entity."""
        item = _feature_item(use_case, entity_id, features, feature_version, event_time or datetime.now(UTC))
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (BotoCoreError, ClientError) as error:
            raise FeatureStoreUnavailableError(str(error)) from error

    def put_latest(self, use_case: str, updates: Sequence[OnlineUpdate]) -> int:
        """Write each update unless the stored value has a later event time; returns the skipped count.

        The check is a condition on the write itself, so a late event racing a newer one never wins.
        """
        requests = {
            str(index): {
                "TableName": self._table,
                "Item": _feature_item(
                    use_case, update.entity, update.features, update.feature_version, update.event_time
                ),
                # Equal times rewrite the same values, so a retried delivery is not counted as late; an item
                # written without `event_time_us` (before it existed) is replaced.
                "ConditionExpression": "attribute_not_exists(event_time_us) OR event_time_us <= :t",
                "ExpressionAttributeValues": {":t": {"N": str(_micros(update.event_time))}},
            }
            for index, update in enumerate(updates)
        }
        try:
            return len(conditional_puts(self._client, requests))
        except (BotoCoreError, ClientError) as error:
            raise FeatureStoreUnavailableError(str(error)) from error


def _micros(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def _feature_item(
    use_case: str, entity_id: str, features: Mapping[str, float | int | str], version: str, event_time: datetime
) -> dict[str, Any]:
    return {
        "pk": {"S": f"{use_case}#{entity_id}"},
        "features": {"M": {name: _typed(_to_dynamo(value)) for name, value in features.items()}},
        "feature_version": {"S": version},
        "event_time": {"S": event_time.astimezone(UTC).isoformat()},
        "event_time_us": {"N": str(_micros(event_time))},
    }


def _typed(value: Decimal | str) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, Decimal) else {"S": value}


def _plain(value: Mapping[str, str]) -> Decimal | str:
    if "N" in value:
        return Decimal(value["N"])
    if "S" in value:
        return value["S"]
    raise FeatureStoreUnavailableError(f"online feature of unsupported DynamoDB type {sorted(value)}")


def conditional_puts(client: Any, requests: Mapping[str, dict[str, Any]]) -> set[str]:
    """Run conditional `PutItem` requests side by side; returns the names of those whose condition failed.

    One request per item rather than transactions of a hundred: a transaction is cancelled whole by one
    failed condition, and each write's outcome is what the caller needs.
    """

    def put(name: str) -> str | None:
        try:
            client.put_item(**requests[name])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return name
            raise
        return None

    if len(requests) <= 1:
        return {name for name in map(put, requests) if name is not None}
    with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(requests))) as pool:
        return {name for name in pool.map(put, requests) if name is not None}


class DynamoRecordLedger:
    """`RecordLedger` on DynamoDB: one item per stored record, keyed `<dataset>#<record id>`, written once."""

    def __init__(self, table_name: str, client: Any) -> None:
        self._table = table_name
        self._client = client

    def lookup(self, dataset: str, record_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of the stored ones among `record_ids`."""
        found: dict[str, LedgerEntry] = {}
        unique = list(dict.fromkeys(record_ids))
        try:
            for start in range(0, len(unique), BATCH_GET_KEYS):
                keys = [{"pk": {"S": f"{dataset}#{rid}"}} for rid in unique[start : start + BATCH_GET_KEYS]]
                for item in _batch_get(self._client, self._table, keys):
                    record_id = item["pk"]["S"].split("#", 1)[1]
                    found[record_id] = LedgerEntry(item["digest"]["S"], item["location"]["S"])
        except (BotoCoreError, ClientError) as error:
            raise LedgerUnavailableError(f"record ledger unavailable: {error}") from error
        return found

    def claim(self, dataset: str, entries: Mapping[str, LedgerEntry]) -> set[str]:
        """Write the entries in batches, then read them back; returns the ids whose entry is another's.

        `BatchWriteItem` takes no conditions, so the read-back is what tells a record claimed concurrently by
        another delivery: only the entry read back counts, and the caller treats the others as that delivery's.
        """
        stored_at = datetime.now(UTC).isoformat()
        puts = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"{dataset}#{record_id}"},
                        "digest": {"S": entry.digest},
                        "location": {"S": entry.location},
                        "stored_at": {"S": stored_at},
                    }
                }
            }
            for record_id, entry in entries.items()
        ]
        try:
            for start in range(0, len(puts), BATCH_WRITE_ITEMS):
                _batch_write(self._client, self._table, puts[start : start + BATCH_WRITE_ITEMS])
        except (BotoCoreError, ClientError) as error:
            raise LedgerUnavailableError(f"record ledger unavailable: {error}") from error
        held = self.lookup(dataset, list(entries))
        return {record_id for record_id, entry in entries.items() if held.get(record_id) != entry}


def _batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: requests}
    for _ in range(_ROUNDS):
        answer = client.batch_write_item(RequestItems=pending)
        pending = answer.get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(0.05)
    raise LedgerUnavailableError(f"{len(pending[table])} ledger writes stayed unprocessed")


def _batch_get(client: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    for _ in range(_ROUNDS):
        answer = client.batch_get_item(RequestItems=request)
        items += answer.get("Responses", {}).get(table, [])
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            return items
        time.sleep(0.05)
    raise LedgerUnavailableError(f"{len(request[table]['Keys'])} keys stayed unprocessed")


class DynamoApiKeyStore:
    """API key digests mapped to principals, and key management's view of the same table.

    `lookup` caches a valid key's principal for `cache_s` per container (never past the secret's rotation grace),
    so a revoked key is refused within `cache_s`; unknown and invalid keys are never cached.
    """

    def __init__(self, table_name: str, client: Any, cache_s: float = 60.0, clock: Any = time.time) -> None:
        self._table = table_name
        self._client = client
        self._cache_s = cache_s
        self._clock = clock
        self._cache: dict[str, tuple[float, float, Principal]] = {}
        self._lock = threading.Lock()

    def lookup(self, key_digest: str) -> Principal | None:
        """The principal of a valid key with this digest, or None."""
        now = time.monotonic()
        wall = self._clock()
        with self._lock:
            cached = self._cache.get(key_digest)
        if cached is not None and now - cached[0] < self._cache_s and wall < cached[1]:
            return cached[2]
        try:
            item = self._client.get_item(TableName=self._table, Key={"key_digest": {"S": key_digest}}).get("Item")
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"API key table unavailable: {error}") from error
        if item is None:
            return None
        record = key_record(item)
        if not record.valid_at(datetime.fromtimestamp(wall, UTC)):
            return None
        principal = record.principal_of()
        until = record.expires_at.timestamp() if record.expires_at is not None else float("inf")
        with self._lock:
            self._cache[key_digest] = (now, until, principal)
        return principal

    def forget(self) -> None:
        """Drop every cached key, so that each is looked up again (a key revoked since is refused at once)."""
        with self._lock:
            self._cache.clear()

    def add(self, record: ApiKeyRecord) -> None:
        """Store a new secret's record; RecordExistsError when its digest is stored already."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=key_item(record),
                ConditionExpression="attribute_not_exists(key_digest)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise RecordExistsError(f"a key with digest {record.key_digest[:12]}... is stored already") from error
            raise DependencyUnavailableError(f"API key table unavailable: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailableError(f"API key table unavailable: {error}") from error

    def replace(self, record: ApiKeyRecord) -> None:
        """Store a changed record over the stored one with its digest."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=key_item(record),
                ConditionExpression="attribute_exists(key_digest)",
            )
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"API key table unavailable: {error}") from error

    def records(self) -> list[ApiKeyRecord]:
        """Every stored record (a scan: the key table holds one item per secret)."""
        records = []
        try:
            for page in self._client.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True):
                records += [key_record(item) for item in page.get("Items", [])]
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"API key table unavailable: {error}") from error
        return records


def key_item(record: ApiKeyRecord) -> dict[str, Any]:
    """The key table's item of one secret's record."""
    item: dict[str, Any] = {
        "key_digest": {"S": record.key_digest},
        "key_id": {"S": record.key_id},
        "principal": {"S": record.principal},
        "role": {"S": record.role},
        "use_cases": {"L": [{"S": name} for name in record.use_cases]},
        "datasets": {"L": [{"S": name} for name in record.datasets]},
        "plan": {"S": record.plan},
        "created_at": {"S": record.created_at.isoformat()},
        "created_by": {"S": record.created_by},
        "generation": {"N": str(record.generation)},
        "active": {"BOOL": record.active},
    }
    if record.expires_at is not None:
        item["expires_at"] = {"S": record.expires_at.isoformat()}
    if record.revoked_at is not None:
        item["revoked_at"] = {"S": record.revoked_at.isoformat()}
    return item


def key_record(item: Mapping[str, Any]) -> ApiKeyRecord:
    """One secret's record from its item.

    An item stored before keys were scoped (no `key_id`) is read as what it granted then: every use case and
    dataset, on the internal plan, named by its digest.
    """
    digest = item["key_digest"]["S"]
    scoped = "key_id" in item

    def names(attribute: str) -> tuple[str, ...]:
        if not scoped:
            return (EVERY,)
        return tuple(value["S"] for value in item.get(attribute, {}).get("L", []))

    def moment(attribute: str) -> datetime | None:
        value = item.get(attribute)
        return None if value is None else datetime.fromisoformat(value["S"])

    return ApiKeyRecord(
        key_digest=digest,
        key_id=item["key_id"]["S"] if scoped else f"key_{digest[:16]}",
        principal=item["principal"]["S"],
        role=item["role"]["S"],
        use_cases=names("use_cases"),
        datasets=names("datasets"),
        plan=item["plan"]["S"] if "plan" in item else "internal",
        created_at=moment("created_at") or datetime.fromtimestamp(0, UTC),
        created_by=item.get("created_by", {}).get("S", "unknown"),
        generation=int(item.get("generation", {}).get("N", "1")),
        active=bool(item.get("active", {}).get("BOOL", False)),
        expires_at=moment("expires_at"),
        revoked_at=moment("revoked_at"),
    )
