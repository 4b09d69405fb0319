"""Where the count of function invocations comes from: Lambda's own metrics, or the local stack's ledger.

The coverage report compares these with the audit events, so they must come from the platform that ran
the functions, not from the functions themselves.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.governance.oversight.ports import CountedInvocation

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# CloudWatch keeps 1-minute Lambda metrics for 15 days and hourly ones for 455 days.
PERIOD_S = 3600


class JsonlInvocationLedger:
    """The local stack's record of every invocation it made: one JSON line per invocation, appended."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def record(self, function: str, request_id: str, at: datetime) -> None:
        """Append one invocation."""
        line = json.dumps({"function": function, "request_id": request_id, "at": at.isoformat()}) + "\n"
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as file:
                file.write(line)

    def invocations(self, since: datetime, until: datetime) -> list[CountedInvocation]:
        """Each invocation that ended in [since, until), in the order they ended."""
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines() if self._path.exists() else []
        except OSError as error:
            raise StoreUnavailableError(f"invocation ledger {self._path} cannot be read: {error}") from error
        found = []
        for line in lines:
            item = json.loads(line)
            if since <= datetime.fromisoformat(item["at"]) < until:
                found.append(CountedInvocation(function=item["function"], request_id=item["request_id"]))
        return found


class CloudWatchInvocationLedger:
    """Lambda's `Invocations` metric of each named function: a count, since Lambda lists no request ids."""

    def __init__(self, function_names: Sequence[str], cloudwatch: Any) -> None:
        self._names = list(function_names)
        self._cloudwatch = cloudwatch

    def invocations(self, since: datetime, until: datetime) -> int:
        """The sum of the functions' invocations in [since, until), by the hour."""
        queries = [
            {
                "Id": f"f{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Invocations",
                        "Dimensions": [{"Name": "FunctionName", "Value": name}],
                    },
                    "Period": PERIOD_S,
                    "Stat": "Sum",
                },
            }
            for index, name in enumerate(self._names)
        ]
        if not queries:
            return 0
        total = 0.0
        try:
            pages = self._cloudwatch.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=since, EndTime=until
            )
            for page in pages:
                total += sum(sum(result["Values"]) for result in page["MetricDataResults"])
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailableError(f"Lambda invocation metrics could not be read: {error}") from error
        return round(total)
