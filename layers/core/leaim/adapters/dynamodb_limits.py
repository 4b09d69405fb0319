"""Per-key rate limits on DynamoDB: a generic cell rate algorithm per key, and a counter per key and UTC day.

The rate is kept as the key's theoretical arrival time (`tat`): a request at `now` is admitted while
`max(tat, now) - now <= (burst - 1) / rate`, and moves `tat` on by `1 / rate`. Each admission is one conditional
update, so containers never overshoot a plan together; an idle key's update and a busy key's are tried in turn.
The day's count is one conditional `ADD`. Items carry `expires_at` for the table's TTL.

A key the abuse monitor throttles carries its lowered rate on the same item (`throttle_rate`, `throttle_burst`,
`throttle_until`). The plan's two updates hold only while no throttle is in force, so an unthrottled key still pays
one update per request; a throttled key's updates fail their condition, the read that follows finds the throttle,
and the same algorithm runs again at the lowered rate until `throttle_until`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.exceptions import DependencyUnavailableError
from leaim.governance.access.limits import Admission

if TYPE_CHECKING:
    from collections.abc import Callable

    from leaim.governance.access.limits import Limit
    from leaim.governance.access.plans import Plan

# Conditional updates lost to a concurrent request of the same key before this one is judged once more.
_ATTEMPTS = 4
_DAY = 86_400
# Sums of intervals drift from their products by a few ulps: a burst's last request must not fall to that.
_SLACK_S = 1e-6
# The clause each GCRA update adds: the plan's rate holds while no throttle is in force, the lowered one while it is.
_UNTHROTTLED = "(attribute_not_exists(throttle_until) OR throttle_until <= :now)"
_THROTTLED = "throttle_until > :now"


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
            refused = self._take_token(key_id, plan.rate_per_s, max(plan.burst, 1), now)
            if refused is not None:
                return refused
        if plan.daily is not None and not self._count_today(key_id, plan.daily, now):
            midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            return Admission(False, "daily", (midnight + timedelta(days=1)).timestamp() - now)
        return Admission(True)

    def throttle(self, key_id: str, *, rate_per_s: float, burst: int, until: float) -> None:
        """Hold `key_id` to `rate_per_s` with bursts of `burst` until the epoch second `until` (a renewal extends)."""
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"a throttle needs a positive rate and a burst of at least 1, got {rate_per_s}, {burst}")
        self._set(
            {"pk": {"S": f"rate#{key_id}"}},
            "SET throttle_rate = :rate, throttle_burst = :burst, throttle_until = :until, expires_at = :expires",
            {":rate": rate_per_s, ":burst": burst, ":until": until, ":expires": int(until) + _DAY},
        )

    def _take_token(self, key_id: str, rate: float, burst: int, now: float) -> Admission | None:
        """None when the request is admitted (and counted), else the refusal: by the plan's rate or a throttle's."""
        key = {"pk": {"S": f"rate#{key_id}"}}
        limit: Limit = "rate"
        interval, cell_burst, clause, until = 1.0 / rate, burst, _UNTHROTTLED, 0.0
        for _ in range(_ATTEMPTS):
            if self._cell(key, interval, cell_burst, now, clause, until):
                return None
            state = self._state(key)
            if state.throttled_at(now):
                interval, cell_burst, clause = 1.0 / state.throttle_rate, state.throttle_burst, _THROTTLED
                until, limit = state.throttle_until, "abuse"
            else:
                interval, cell_burst, clause, until, limit = 1.0 / rate, burst, _UNTHROTTLED, 0.0, "rate"
            tolerance = _tolerance(interval, cell_burst)
            if state.tat is not None and state.tat > now + tolerance:
                return Admission(False, limit, state.tat - tolerance - now)
            # The update lost to another request that moved `tat`, or met a throttle: judge again under the rule read.
        return Admission(False, limit, interval)

    def _cell(self, key: dict[str, Any], interval: float, burst: int, now: float, throttle: str, until: float) -> bool:
        """One GCRA admission at `interval` and `burst`, conditional on the throttle clause `throttle` too."""
        tolerance = _tolerance(interval, burst)
        # A throttled key's item must outlive its throttle; an unthrottled one only its last burst.
        floor = max(until, now)
        # An idle key: its last burst has drained, the next request starts from now.
        if self._update(
            key,
            "SET tat = :next, expires_at = :expires",
            f"(attribute_not_exists(tat) OR tat <= :now) AND {throttle}",
            {":next": now + interval, ":now": now, ":expires": int(floor + tolerance + interval) + _DAY},
        ):
            return True
        # A busy key with room in its burst.
        return self._update(
            key,
            "SET tat = tat + :interval, expires_at = :expires",
            f"tat > :now AND tat <= :latest AND {throttle}",
            {
                ":interval": interval,
                ":now": now,
                ":latest": now + tolerance,
                ":expires": int(floor + 2 * tolerance + interval) + _DAY,
            },
        )

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

    def _set(self, key: dict[str, Any], expression: str, values: dict[str, float | int]) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues={name: {"N": repr(value)} for name, value in values.items()},
            )
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"rate limit table unavailable: {error}") from error

    def _state(self, key: dict[str, Any]) -> _CellState:
        try:
            item = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item") or {}
        except (BotoCoreError, ClientError) as error:
            raise DependencyUnavailableError(f"rate limit table unavailable: {error}") from error

        def number(name: str) -> float | None:
            return float(item[name]["N"]) if name in item else None

        return _CellState(
            tat=number("tat"),
            throttle_rate=number("throttle_rate") or 0.0,
            throttle_burst=int(number("throttle_burst") or 1),
            throttle_until=number("throttle_until") or 0.0,
        )


@dataclass(frozen=True, slots=True)
class _CellState:
    """A key's item as read: its theoretical arrival time, and its throttle (a zero rate when it has none)."""

    tat: float | None
    throttle_rate: float
    throttle_burst: int
    throttle_until: float

    def throttled_at(self, now: float) -> bool:
        return self.throttle_rate > 0 and self.throttle_until > now


def _tolerance(interval: float, burst: int) -> float:
    return (max(burst, 1) - 1) * interval + _SLACK_S
