"""Composition of the decision functions: the governed decision service, its API and its queue consumer.

Nothing here reaches SQL: decisions are accepted into, and read back from, the accepted store; the traffic plans
come from the traffic table the registry publishes to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.dynamodb import DynamoApiKeyStore, DynamoFeatureStore
from leaim.adapters.dynamodb_audit import DynamoDecisions
from leaim.adapters.dynamodb_traffic import DynamoTrafficPlans
from leaim.adapters.sqs import SqsDeadLetterSink, SqsResultPublisher
from leaim.bootstrap import snapstart
from leaim.bootstrap.runtime import (
    AWS_WRITE_CONFIG,
    Runtime,
    build_runtime,
    modal_credentials,
    pii_key,
    required,
)
from leaim.orchestration.api import DecisionApi, DecisionReplayApi
from leaim.orchestration.consumer import DecisionConsumer
from leaim.orchestration.decisions import DecisionService
from leaim.orchestration.replay import DecisionReplayer
from leaim.serving.breaker import BreakerBoard
from leaim.serving.routing import CachedModelRouter
from leaim.serving.workers import build_worker_client

if TYPE_CHECKING:
    from leaim.config import Settings
    from leaim.domain.manifests import ManifestCatalog
    from leaim.serving.ports import WorkerClient


@dataclass(frozen=True)
class Decisions:
    """What every decision function shares: its runtime, the tables' client, the decision service and its caches,
    and the replay of stored decisions on the same catalog, router and workers."""

    runtime: Runtime
    dynamodb: Any
    service: DecisionService
    router: CachedModelRouter
    keys: DynamoApiKeyStore
    catalog: ManifestCatalog
    replayer: DecisionReplayer

    def snapshot_safe(self, *clients: Any) -> None:
        """Register the SnapStart hooks of this container's clients (and `clients` built beside) and caches."""
        snapstart.register([self.dynamodb, *clients], [self.router, self.keys, self.catalog])


def build_decisions(
    service_name: str, settings: Settings | None = None, *, workers: WorkerClient | None = None
) -> Decisions:
    """Build the decision service and its adapters from settings (default: the environment)."""
    runtime = build_runtime(service_name, settings)
    settings, clock = runtime.settings, runtime.clock
    # One client for every table: each client costs a few tens of milliseconds of init, and a pool to re-open.
    dynamodb = runtime.dynamodb
    modal_credentials(settings)
    accepted = DynamoDecisions(required(settings.accepted_table, "accepted_table"), dynamodb)
    plans = DynamoTrafficPlans(required(settings.traffic_table, "traffic_table"), dynamodb)
    router = CachedModelRouter(plans, clock, settings.router_cache_s)
    catalog = runtime.manifests(dynamodb)
    worker_client = workers or build_worker_client(settings)
    service = DecisionService(
        catalog=catalog,
        features=DynamoFeatureStore(required(settings.features_table, "features_table"), dynamodb),
        router=router,
        stops=plans,
        workers=worker_client,
        audit_log=runtime.audit_log,
        decisions=accepted,
        overrides=accepted,
        telemetry=runtime.telemetry,
        clock=clock,
        breakers=BreakerBoard.from_settings(settings, clock.monotonic),
        pii_key=pii_key(settings),
        deadline_margin_ms=settings.deadline_margin_ms,
        commit_reserve_ms=settings.commit_reserve_ms,
    )
    replayer = DecisionReplayer(
        catalog=catalog,
        records=accepted,
        router=router,
        workers=worker_client,
        telemetry=runtime.telemetry,
        clock=clock,
        deadline_margin_ms=settings.deadline_margin_ms,
    )
    return Decisions(runtime, dynamodb, service, router, runtime.api_keys(dynamodb), catalog, replayer)


def build_decision_api(decisions: Decisions, *, source: str) -> DecisionApi:
    """The decision API of the API function."""
    runtime = decisions.runtime
    decisions.snapshot_safe()
    return DecisionApi(
        service=decisions.service,
        gate=runtime.http_gate(
            decisions.dynamodb, max_body_bytes=runtime.settings.max_body_bytes, source=source, keys=decisions.keys
        ),
    )


def build_decision_replay_api(decisions: Decisions, *, source: str) -> DecisionReplayApi:
    """The replay API of the API function, behind the same keys as its decision API."""
    runtime = decisions.runtime
    return DecisionReplayApi(
        replayer=decisions.replayer,
        gate=runtime.http_gate(
            decisions.dynamodb, max_body_bytes=runtime.settings.max_body_bytes, source=source, keys=decisions.keys
        ),
    )


def build_decision_consumer(decisions: Decisions, *, source: str) -> tuple[DecisionConsumer, SqsResultPublisher]:
    """The queue consumer of the queue function, and its idempotent results publisher."""
    runtime = decisions.runtime
    settings = runtime.settings
    sqs = boto3.client("sqs", config=AWS_WRITE_CONFIG)
    idempotency = boto3.client("dynamodb", config=AWS_WRITE_CONFIG)
    publisher = SqsResultPublisher(
        required(settings.results_queue_url, "results_queue_url"),
        sqs,
        required(settings.idempotency_table, "idempotency_table"),
        idempotency,
    )
    decisions.snapshot_safe(sqs, idempotency)
    consumer = DecisionConsumer(
        service=decisions.service,
        publisher=publisher,
        dead_letters=SqsDeadLetterSink(required(settings.decision_dlq_url, "decision_dlq_url"), sqs),
        audit_log=runtime.audit_log,
        telemetry=runtime.telemetry,
        clock=runtime.clock,
        max_receive_count=settings.decision_max_receive_count,
        source=source,
    )
    return consumer, publisher
