"""Composition of the abuse monitor function: the SQL store it reads requests and keeps alerts in, the key table it
reads keys from, and the rate limit table it throttles keys in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

from leaim.adapters.dynamodb import DynamoApiKeyStore
from leaim.adapters.dynamodb_limits import DynamoRateLimiter
from leaim.adapters.sql import SqlModelRegistry
from leaim.adapters.sql.oversight import SqlOversight
from leaim.adapters.sql.requests import SqlRequestHistory
from leaim.bootstrap.runtime import AWS_WRITE_CONFIG, Runtime, build_runtime, required
from leaim.bootstrap.sql import sql_engine
from leaim.governance.oversight.abuse import AbuseMonitor

if TYPE_CHECKING:
    from leaim.config import Settings


@dataclass(frozen=True)
class AbuseMonitoring:
    """What the abuse monitor function needs: its runtime and the monitor."""

    runtime: Runtime
    monitor: AbuseMonitor


def build_abuse_monitoring(service_name: str, settings: Settings | None = None) -> AbuseMonitoring:
    """Build the abuse monitor and its adapters from settings.

    The registry is read for each champion's baseline only: this function publishes no traffic plan.
    """
    runtime = build_runtime(service_name, settings)
    settings = runtime.settings
    engine = sql_engine(settings)
    registry = SqlModelRegistry(engine)
    dynamodb = boto3.client("dynamodb", config=AWS_WRITE_CONFIG)
    monitor = AbuseMonitor(
        catalog=runtime.manifests(dynamodb),
        router=registry,
        registry=registry,
        requests=SqlRequestHistory(engine),
        store=SqlOversight(engine),
        keys=DynamoApiKeyStore(required(settings.api_keys_table, "api_keys_table"), dynamodb),
        throttle=DynamoRateLimiter(required(settings.rate_limits_table, "rate_limits_table"), dynamodb),
        clock=runtime.clock,
    )
    return AbuseMonitoring(runtime=runtime, monitor=monitor)
