"""Per-key rate limits on DynamoDB: a generic cell rate algorithm per key, and a counter per key and UTC day.

The rate is kept as the key's theoretical arrival time (`tat`): a request at `now` is admitted while
`max(tat, now) - now <= (burst - 1) / rate`, and moves `tat` on by `1 / rate`. Each admission is one conditional
update, so containers never overshoot a plan together; an idle key's update and a busy key's are tried in turn.
The day's count is one conditional `ADD`. Items carry `expires_at` for the table's TTL.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.exceptions import DependencyUnavailableError
from leaim.governance.access.limits import Admission

if TYPE_CHECKING:
    from collections.abc import Callable

    from leaim.governance.access.plans import Plan

# Conditional updates lost to a concurrent request of the same key before this one is judged once more.
_ATTEMPTS = 4
_DAY = 86_400
# Sums of intervals drift from their products by a few ulps: a burst's last request must not fall to that.
_SLACK_S = 1e-6


class DynamoRateLimiter:
    """`RateLimiter` on one table keyed by `pk` (a string), with TTL on `expires_at`."""

    def __init__(self, table_name: str, client: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table_name
        self._client = client
        self._clock = clock

    def admit(self, key_id: str, plan: Plan) -> Admission:
        """Count one request of `key_id` against `plan`, or say which limit refuses it and for how long."""
        now = self._clock()
        if plan.rate_per_s is not None:
            wait = self._take_token(key_id, plan.rate_per_s, max(plan.burst, 1), now)
            if wait > 0:
                return Admission(False, "rate", wait)
        if plan.daily is not None and not self._count_today(key_id, plan.daily, now):
            midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            return Admission(False, "daily", (midnight + timedelta(days=1)).timestamp() - now)
        return Admission(True)

    def _take_token(self, key_id: str, rate: float, burst: int, now: float) -> float:
        """0 when the request is admitted (and counted), else the seconds until it would be."""
        interval = 1.0 / rate
        tolerance = (burst - 1) * interval + _SLACK_S
        key = {"pk": {"S": f"rate#{key_id}"}}
        for _ in range(_ATTEMPTS):
            # An idle key: its last burst has drained, the next request starts from now.
            if self._update(
                key,
                "SET tat = :next, expires_at = :expires",
                "attribute_not_exists(tat) OR tat <= :now",
                {":next": now + interval, ":now": now, ":expires": int(now + tolerance + interval) + _DAY},
            ):
                return 0.0
            # A busy key with room in its burst.
            if self._update(
                key,
                "SET tat = tat + :interval, expires_at = :expires",
                "tat > :now AND tat <= :latest",
                {
                    ":interval": interval,
                    ":now": now,
                    ":latest": now + tolerance,
                    ":expires": int(now + 2 * tolerance + interval) + _DAY,
                },
            ):
                return 0.0
            tat = self._tat(key)
            if tat is not None and tat > now + tolerance:
                return tat - tolerance - now
            # Neither held because another request moved `tat` in between: judge again.
        return interval

    def _count_today(self, key_id: str, quota: int, now: float) -> bool:
        day = datetime.fromtimestamp(now, UTC).date()
        return self._update(
            {"pk": {"S": f"daily#{key_id}#{day.isoformat()}"}},
            "ADD n :one SET expires_at = :expires",
            "attribute_not_exists(n) OR n < :quota",
            {":one": 1, ":quota": quota, ":expires": int(now) + 2 * _DAY},
        )

    def _update(self, key: dict[str, Any], expression: str, condition: str, values: dict[str, float | int]) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues={name: {"N": repr(value)} for name, value in values.items()},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise DependencyUnavailableError(f"rate limit table unavailable: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailableError(f"rate limit table unavailable: {error}") from error
        return True

    def _tat(self, key: dict[str, Any]) -> float | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"rate limit table unavailable: {error}") from error
        return None if item is None or "tat" not in item else float(item["tat"]["N"])
