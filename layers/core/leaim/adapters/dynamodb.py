"""DynamoDB adapters: the online feature store and the API key table."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.exceptions import DependencyUnavailableError, LeaimError
from leaim.governance.ports import Principal

if TYPE_CHECKING:
    from collections.abc import Mapping


class FeatureStoreUnavailableError(LeaimError):
    """The online feature store did not answer."""


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
        when = (event_time or datetime.now(UTC)).isoformat()
        item = {
            "pk": {"S": f"{use_case}#{entity_id}"},
            "features": {"M": {name: _typed(_to_dynamo(value)) for name, value in features.items()}},
            "feature_version": {"S": feature_version},
            "event_time": {"S": when},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (BotoCoreError, ClientError) as error:
            raise FeatureStoreUnavailableError(str(error)) from error


def _typed(value: Decimal | str) -> dict[str, str]:
    return {"N": str(value)} if isinstance(value, Decimal) else {"S": value}


def _plain(value: Mapping[str, str]) -> Decimal | str:
    if "N" in value:
        return Decimal(value["N"])
    if "S" in value:
        return value["S"]
    raise FeatureStoreUnavailableError(f"online feature of unsupported DynamoDB type {sorted(value)}")


class DynamoApiKeyStore:
    """API key digests mapped to principals; positive answers are cached for `cache_s` per container."""

    def __init__(self, table_name: str, client: Any, cache_s: float = 60.0) -> None:
        self._table = table_name
        self._client = client
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def lookup(self, key_digest: str) -> Principal | None:
        """The active principal owning this key digest, or None."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_digest)
        if cached is not None and now - cached[0] < self._cache_s:
            return cached[1]
        try:
            item = self._client.get_item(TableName=self._table, Key={"key_digest": {"S": key_digest}}).get("Item")
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"API key table unavailable: {error}") from error
        if item is None or not item.get("active", {}).get("BOOL", False):
            return None
        principal = Principal(name=item["principal"]["S"], role=item["role"]["S"])
        with self._lock:
            self._cache[key_digest] = (now, principal)
        return principal

    def register(self, key_digest: str, principal: Principal) -> None:
        """Store an active key for `principal` (the key itself is never stored)."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "key_digest": {"S": key_digest},
                "principal": {"S": principal.name},
                "role": {"S": principal.role},
                "active": {"BOOL": True},
            },
        )
