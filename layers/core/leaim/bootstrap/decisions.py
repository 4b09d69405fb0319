"""Composition of the decision functions: the governed decision service, its API and its queue consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.dynamodb import DynamoFeatureStore
from leaim.adapters.sql import SqlDecisionStore, SqlModelRegistry
from leaim.adapters.sql.oversight import SqlOversight
from leaim.adapters.sqs import SqsDeadLetterSink, SqsResultPublisher
from leaim.bootstrap.runtime import (
    AWS_CONFIG,
    AWS_WRITE_CONFIG,
    Runtime,
    build_runtime,
    modal_credentials,
    pii_key,
    required,
)
from leaim.domain.manifests import ManifestCatalog
from leaim.orchestration.api import DecisionApi
from leaim.orchestration.consumer import DecisionConsumer
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerBoard
from leaim.serving.routing import CachedModelRouter
from leaim.serving.workers import build_worker_client

if TYPE_CHECKING:
    from leaim.config import Settings
    from leaim.serving.ports import WorkerClient


@dataclass(frozen=True)
class Decisions:
    """What every decision function shares: its runtime, the feature table's client and the decision service."""

    runtime: Runtime
    dynamodb: Any
    service: DecisionService


def build_decisions(
    service_name: str, settings: Settings | None = None, *, workers: WorkerClient | None = None
) -> Decisions:
    """Build the decision service and its adapters from settings (default: the environment)."""
    runtime = build_runtime(service_name, settings)
    settings, engine, clock = runtime.settings, runtime.engine, runtime.clock
    dynamodb = boto3.client("dynamodb", config=AWS_CONFIG)
    modal_credentials(settings)
    service = DecisionService(
        catalog=ManifestCatalog.from_directory(settings.use_cases_dir),
        features=DynamoFeatureStore(required(settings.features_table, "features_table"), dynamodb),
        router=CachedModelRouter(SqlModelRegistry(engine), clock, settings.router_cache_s),
        workers=workers or build_worker_client(settings),
        audit_log=runtime.audit_log,
        decisions=SqlDecisionStore(engine),
        overrides=SqlOversight(engine),
        telemetry=runtime.telemetry,
        clock=clock,
        breakers=BreakerBoard(settings.breaker_failure_threshold, settings.breaker_reset_s, clock.monotonic),
        pii_key=pii_key(settings),
        deadline_margin_ms=settings.deadline_margin_ms,
    )
    return Decisions(runtime, dynamodb, service)


def build_decision_api(decisions: Decisions, *, source: str) -> DecisionApi:
    """The decision API of the API function."""
    runtime = decisions.runtime
    return DecisionApi(
        service=decisions.service,
        gate=runtime.http_gate(decisions.dynamodb, max_body_bytes=runtime.settings.max_body_bytes, source=source),
    )


def build_decision_consumer(decisions: Decisions, *, source: str) -> tuple[DecisionConsumer, SqsResultPublisher]:
    """The queue consumer of the queue function, and its idempotent results publisher."""
    runtime = decisions.runtime
    settings = runtime.settings
    sqs = boto3.client("sqs", config=AWS_WRITE_CONFIG)
    publisher = SqsResultPublisher(
        required(settings.results_queue_url, "results_queue_url"),
        sqs,
        required(settings.idempotency_table, "idempotency_table"),
        boto3.client("dynamodb", config=AWS_WRITE_CONFIG),
    )
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
