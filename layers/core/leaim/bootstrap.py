"""The composition root: the one place that builds adapters from settings and wires them into services."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config

from leaim.adapters.audit_archive import S3DigestArchive
from leaim.adapters.dynamodb import DynamoApiKeyStore, DynamoFeatureStore, DynamoRecordLedger
from leaim.adapters.invocations import CloudWatchInvocationLedger, JsonlInvocationLedger
from leaim.adapters.s3 import S3ObjectStore
from leaim.adapters.sql import (
    SqlAuditLog,
    SqlDecisionStore,
    SqlModelRegistry,
    SqlTrainingJobStore,
    SqlVersionStats,
    create_engine_for,
    create_schema,
)
from leaim.adapters.sql.audit import SqlAuditTrail
from leaim.adapters.sql.oversight import SqlOversight
from leaim.adapters.sqs import SqsDeadLetterSink, SqsJobQueue, SqsResultPublisher
from leaim.adapters.telemetry import OtelTelemetry, install_tracer_provider
from leaim.config import Settings
from leaim.data.api import IngestionApi
from leaim.data.consumer import IngestionConsumer
from leaim.data.datasets import DatasetCatalog
from leaim.data.ingestion import IngestionService
from leaim.data.privacy import MIN_KEY_BYTES
from leaim.data.quarantine import QuarantineService
from leaim.data.snapshots import SnapshotService
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import ManifestCatalog
from leaim.exceptions import ConfigurationError
from leaim.governance.access.gate import HttpGate
from leaim.governance.api import GovernanceApi
from leaim.governance.audit.sealing import DigestSealer, DigestSigner
from leaim.governance.oversight.reviews import ReviewService
from leaim.lifecycle.api import LifecycleApi
from leaim.lifecycle.consumer import TrainingConsumer
from leaim.lifecycle.promotion import PromotionController, PromotionService
from leaim.lifecycle.training import TrainingJobs
from leaim.orchestration.api import DecisionApi
from leaim.orchestration.consumer import DecisionConsumer
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerBoard
from leaim.serving.routing import CachedModelRouter
from leaim.serving.workers import build_worker_client

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.ingest.v1 import Source
    from leaim.governance.oversight.monitor import Monitor
    from leaim.governance.oversight.ports import InvocationLedger
    from leaim.lifecycle.signing import ManifestSigner
    from leaim.serving.ports import WorkerClient

T = TypeVar("T")

# Short AWS timeouts on the request path: a slow dependency must fail inside the decision's latency
# budget (a fallback), not after it. One attempt: a retry would not fit in the budget.
_AWS_CONFIG = Config(connect_timeout=0.5, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})
# The queue function's writes (results, dead letters, idempotency records) are retried by SQS itself,
# but a transient error is cheaper to retry here.
_AWS_WRITE_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})


@dataclass(frozen=True)
class Core:
    """What every decision function shares."""

    settings: Settings
    engine: Engine
    dynamodb: Any
    service: DecisionService
    audit_log: SqlAuditLog
    telemetry: OtelTelemetry
    clock: SystemClock


def _required(value: str | None, name: str) -> str:
    if not value:
        raise ConfigurationError(f"LEAIM_{name.upper()} is not set")
    return value


def _pii_key(settings: Settings) -> bytes:
    if settings.pii_token_key:
        key = settings.pii_token_key.encode()
    elif settings.pii_token_key_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        key = str(parameters.get_secret(settings.pii_token_key_secret_arn, max_age=3600)).encode()
    else:
        raise ConfigurationError("set LEAIM_PII_TOKEN_KEY or LEAIM_PII_TOKEN_KEY_SECRET_ARN")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"the PII token key must be at least {MIN_KEY_BYTES} bytes")
    return key


def _modal_credentials(settings: Settings) -> None:
    """Expose the Modal token from Secrets Manager to the Modal client, which reads it from the environment."""
    if settings.worker_backend != "modal" or not settings.modal_token_secret_arn or "MODAL_TOKEN_ID" in os.environ:
        return
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(settings.modal_token_secret_arn, transform="json", max_age=3600)
    if not isinstance(secret, dict) or not {"MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"} <= secret.keys():
        raise ConfigurationError("the Modal token secret must hold MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")
    os.environ["MODAL_TOKEN_ID"] = secret["MODAL_TOKEN_ID"]
    os.environ["MODAL_TOKEN_SECRET"] = secret["MODAL_TOKEN_SECRET"]


def build_core(service_name: str, settings: Settings | None = None, *, workers: WorkerClient | None = None) -> Core:
    """Build the decision service and its adapters from settings (default: the environment)."""
    settings = settings or Settings.from_env()
    clock = SystemClock()
    provider = install_tracer_provider(service_name, settings.traces_file)
    telemetry = OtelTelemetry(provider.get_tracer("leaim"))
    engine = create_engine_for(settings.database_url)
    create_schema(engine)
    audit_log = SqlAuditLog(engine)
    dynamodb = boto3.client("dynamodb", config=_AWS_CONFIG)
    _modal_credentials(settings)
    service = DecisionService(
        catalog=ManifestCatalog.from_directory(settings.use_cases_dir),
        features=DynamoFeatureStore(_required(settings.features_table, "features_table"), dynamodb),
        router=CachedModelRouter(SqlModelRegistry(engine), clock, settings.router_cache_s),
        workers=workers or build_worker_client(settings),
        audit_log=audit_log,
        decisions=SqlDecisionStore(engine),
        overrides=SqlOversight(engine),
        telemetry=telemetry,
        clock=clock,
        breakers=BreakerBoard(settings.breaker_failure_threshold, settings.breaker_reset_s, clock.monotonic),
        pii_key=_pii_key(settings),
        deadline_margin_ms=settings.deadline_margin_ms,
    )
    return Core(settings, engine, dynamodb, service, audit_log, telemetry, clock)


def build_decision_api(core: Core, *, source: str) -> DecisionApi:
    """The decision API of the API function."""
    return DecisionApi(
        service=core.service,
        gate=_gate(core, max_body_bytes=core.settings.max_body_bytes, source=source),
    )


def build_decision_consumer(core: Core, *, source: str) -> tuple[DecisionConsumer, SqsResultPublisher]:
    """The queue consumer of the queue function, and its idempotent results publisher."""
    settings = core.settings
    sqs = boto3.client("sqs", config=_AWS_WRITE_CONFIG)
    publisher = SqsResultPublisher(
        _required(settings.results_queue_url, "results_queue_url"),
        sqs,
        _required(settings.idempotency_table, "idempotency_table"),
        boto3.client("dynamodb", config=_AWS_WRITE_CONFIG),
    )
    consumer = DecisionConsumer(
        service=core.service,
        publisher=publisher,
        dead_letters=SqsDeadLetterSink(_required(settings.decision_dlq_url, "decision_dlq_url"), sqs),
        audit_log=core.audit_log,
        telemetry=core.telemetry,
        clock=core.clock,
        max_receive_count=settings.decision_max_receive_count,
        source=source,
    )
    return consumer, publisher


@dataclass(frozen=True)
class Ingestion:
    """What every ingestion function shares."""

    settings: Settings
    service: IngestionService
    quarantine: QuarantineService
    snapshots: SnapshotService
    dynamodb: Any
    audit_log: SqlAuditLog
    telemetry: OtelTelemetry
    clock: SystemClock


def build_ingestion(service_name: str, settings: Settings | None = None) -> Ingestion:
    """Build the ingestion, quarantine and snapshot services and their adapters from settings."""
    settings = settings or Settings.from_env()
    clock = SystemClock()
    provider = install_tracer_provider(service_name, settings.traces_file)
    engine = create_engine_for(settings.database_url)
    create_schema(engine)
    manifests = ManifestCatalog.from_directory(settings.use_cases_dir)
    datasets = DatasetCatalog.from_directory(manifests, settings.datasets_dir)
    dynamodb = boto3.client("dynamodb", config=_AWS_WRITE_CONFIG)
    objects = S3ObjectStore(
        _required(settings.datasets_bucket, "datasets_bucket"), boto3.client("s3", config=_AWS_WRITE_CONFIG)
    )
    ledger = DynamoRecordLedger(_required(settings.ingest_ledger_table, "ingest_ledger_table"), dynamodb)
    service = IngestionService(
        datasets=datasets,
        manifests=manifests,
        objects=objects,
        ledger=ledger,
        online=DynamoFeatureStore(_required(settings.features_table, "features_table"), dynamodb),
        clock=clock,
        pii_key=_pii_key(settings),
    )
    return Ingestion(
        settings=settings,
        service=service,
        quarantine=QuarantineService(ingestion=service, objects=objects),
        snapshots=SnapshotService(datasets=datasets, manifests=manifests, objects=objects, ledger=ledger, clock=clock),
        dynamodb=dynamodb,
        audit_log=SqlAuditLog(engine),
        telemetry=OtelTelemetry(provider.get_tracer("leaim")),
        clock=clock,
    )


def build_ingestion_api(ingestion: Ingestion, *, source: str) -> IngestionApi:
    """The ingestion API of the ingestion API function."""
    return IngestionApi(
        ingestion=ingestion.service,
        quarantine=ingestion.quarantine,
        snapshots=ingestion.snapshots,
        gate=_gate(ingestion, max_body_bytes=ingestion.settings.max_ingest_body_bytes, source=source),
    )


def build_ingestion_consumer(ingestion: Ingestion, *, kind: Source, source: str) -> IngestionConsumer:
    """The consumer of the ingest queue (`sqs`, which also dead-letters quarantined messages) or stream."""
    dead_letters = None
    if kind == "sqs":
        queue = _required(ingestion.settings.ingest_dlq_url, "ingest_dlq_url")
        dead_letters = SqsDeadLetterSink(queue, boto3.client("sqs", config=_AWS_WRITE_CONFIG))
    return IngestionConsumer(
        service=ingestion.service,
        dead_letters=dead_letters,
        audit_log=ingestion.audit_log,
        telemetry=ingestion.telemetry,
        clock=ingestion.clock,
        kind=kind,
        source=source,
    )


def _signer(settings: Settings) -> ManifestSigner:
    # Imported here: only the training function signs, and the other functions' cold starts skip cryptography.
    from leaim.lifecycle.signing import ManifestSigner

    pem = _key_pem(settings.manifest_signing_key_file, settings.manifest_signing_key_secret_arn, "MANIFEST_SIGNING_KEY")
    return ManifestSigner.from_pem(pem)


def _key_pem(file: Path | None, secret_arn: str | None, variable: str) -> bytes:
    """A private key's PEM from its file (locally) or its Secrets Manager secret (in AWS)."""
    if file is not None:
        try:
            return file.read_bytes()
        except OSError as error:
            raise ConfigurationError(f"LEAIM_{variable}_FILE cannot be read: {error}") from error
    if secret_arn:
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_secret(secret_arn, max_age=3600)).encode()
    raise ConfigurationError(f"set LEAIM_{variable}_FILE or LEAIM_{variable}_SECRET_ARN")


@dataclass(frozen=True)
class Lifecycle:
    """What every lifecycle function shares."""

    settings: Settings
    jobs: TrainingJobs
    promotions: PromotionService
    controller: PromotionController
    registry: SqlModelRegistry
    dynamodb: Any
    audit_log: SqlAuditLog
    telemetry: OtelTelemetry
    clock: SystemClock
    engine: Engine
    manifests: ManifestCatalog


def build_lifecycle(
    service_name: str, settings: Settings | None = None, *, workers: WorkerClient | None = None
) -> Lifecycle:
    """Build the training jobs, promotion service and controller and their adapters from settings.

    The signing key is read only where it is used: by the training function, which signs manifests.
    """
    settings = settings or Settings.from_env()
    clock = SystemClock()
    provider = install_tracer_provider(service_name, settings.traces_file)
    telemetry = OtelTelemetry(provider.get_tracer("leaim"))
    engine = create_engine_for(settings.database_url)
    create_schema(engine)
    audit_log = SqlAuditLog(engine)
    registry = SqlModelRegistry(engine)
    manifests = ManifestCatalog.from_directory(settings.use_cases_dir)
    datasets = DatasetCatalog.from_directory(manifests, settings.datasets_dir)
    dynamodb = boto3.client("dynamodb", config=_AWS_WRITE_CONFIG)
    s3 = boto3.client("s3", config=_AWS_WRITE_CONFIG)
    snapshots = SnapshotService(
        datasets=datasets,
        manifests=manifests,
        objects=S3ObjectStore(_required(settings.datasets_bucket, "datasets_bucket"), s3),
        ledger=DynamoRecordLedger(_required(settings.ingest_ledger_table, "ingest_ledger_table"), dynamodb),
        clock=clock,
    )

    def worker_client() -> WorkerClient:
        # Only the training function calls workers: the other lifecycle functions need no Modal token.
        _modal_credentials(settings)
        return workers or build_worker_client(settings)

    jobs = TrainingJobs(
        manifests=manifests,
        datasets=datasets,
        snapshots=snapshots,
        jobs=SqlTrainingJobStore(engine),
        queue=SqsJobQueue(
            _required(settings.training_queue_url, "training_queue_url"),
            boto3.client("sqs", config=_AWS_WRITE_CONFIG),
        ),
        registry=registry,
        artifacts=S3ObjectStore(_required(settings.artifacts_bucket, "artifacts_bucket"), s3),
        workers=once(worker_client),
        signer=once(lambda: _signer(settings)),
        audit_log=audit_log,
        telemetry=telemetry,
        clock=clock,
        code_version=settings.code_version,
    )
    return Lifecycle(
        settings=settings,
        jobs=jobs,
        promotions=PromotionService(registry=registry, manifests=manifests),
        controller=PromotionController(
            registry=registry, stats=SqlVersionStats(engine), manifests=manifests, clock=clock
        ),
        registry=registry,
        dynamodb=dynamodb,
        audit_log=audit_log,
        telemetry=telemetry,
        clock=clock,
        engine=engine,
        manifests=manifests,
    )


def build_lifecycle_api(lifecycle: Lifecycle, *, source: str) -> LifecycleApi:
    """The lifecycle API of the lifecycle API function."""
    return LifecycleApi(
        jobs=lifecycle.jobs,
        promotions=lifecycle.promotions,
        registry=lifecycle.registry,
        gate=_gate(lifecycle, max_body_bytes=lifecycle.settings.max_body_bytes, source=source),
    )


def build_training_consumer(lifecycle: Lifecycle, *, source: str) -> TrainingConsumer:
    """The consumer of the training queue."""
    return TrainingConsumer(
        jobs=lifecycle.jobs,
        audit_log=lifecycle.audit_log,
        telemetry=lifecycle.telemetry,
        clock=lifecycle.clock,
        source=source,
    )


@dataclass(frozen=True)
class Oversight:
    """What the governance API function needs: the oversight store beside the audit log and the registry."""

    settings: Settings
    store: SqlOversight
    catalog: ManifestCatalog
    registry: SqlModelRegistry
    dynamodb: Any
    audit_log: SqlAuditLog
    telemetry: OtelTelemetry
    clock: SystemClock


def build_oversight(service_name: str, settings: Settings | None = None) -> Oversight:
    """Build the oversight store and its neighbours from settings (default: the environment)."""
    settings = settings or Settings.from_env()
    provider = install_tracer_provider(service_name, settings.traces_file)
    engine = create_engine_for(settings.database_url)
    create_schema(engine)
    return Oversight(
        settings=settings,
        store=SqlOversight(engine),
        catalog=ManifestCatalog.from_directory(settings.use_cases_dir),
        registry=SqlModelRegistry(engine),
        dynamodb=boto3.client("dynamodb", config=_AWS_CONFIG),
        audit_log=SqlAuditLog(engine),
        telemetry=OtelTelemetry(provider.get_tracer("leaim")),
        clock=SystemClock(),
    )


def _ledger(settings: Settings) -> InvocationLedger:
    if settings.invocation_ledger_file is not None:
        return JsonlInvocationLedger(settings.invocation_ledger_file)
    names = [name.strip() for name in settings.audited_functions.split(",") if name.strip()]
    # The function cannot name itself in its own template entry; Lambda tells it its name.
    own = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if own and own not in names:
        names.append(own)
    return CloudWatchInvocationLedger(names, boto3.client("cloudwatch", config=_AWS_WRITE_CONFIG))


def build_governance_api(oversight: Oversight, *, source: str) -> GovernanceApi:
    """The governance API of the governance API function."""
    # Imported here, as in `build_monitor`: the statistics need numpy, which the other functions' cold starts skip.
    from leaim.governance.oversight.outcomes import OutcomeService
    from leaim.governance.reports import GovernanceReports

    settings = oversight.settings
    signer = once(lambda: _signer(settings))
    reports = GovernanceReports(
        store=oversight.store,
        catalog=oversight.catalog,
        router=oversight.registry,
        registry=oversight.registry,
        ledger=_ledger(settings),
        verifies=lambda signed: signer().verifies(signed),
        clock=oversight.clock,
    )
    return GovernanceApi(
        trail=oversight.audit_log,
        outcomes=OutcomeService(store=oversight.store, catalog=oversight.catalog, clock=oversight.clock),
        reviews=ReviewService(store=oversight.store, catalog=oversight.catalog, clock=oversight.clock),
        reports=reports,
        store=oversight.store,
        catalog=oversight.catalog,
        gate=_gate(oversight, max_body_bytes=settings.max_body_bytes, source=source),
    )


def build_monitor(lifecycle: Lifecycle) -> Monitor:
    """The drift and bias monitor; it asks the lifecycle for retraining when a champion drifts."""
    from leaim.governance.oversight.monitor import Monitor

    return Monitor(
        catalog=lifecycle.manifests,
        router=lifecycle.registry,
        registry=lifecycle.registry,
        store=SqlOversight(lifecycle.engine),
        retrainer=lifecycle.jobs,
        clock=lifecycle.clock,
    )


@dataclass(frozen=True)
class AuditDigests:
    """What the audit digest function needs: the sealer, and the audit log its runs are recorded in."""

    settings: Settings
    sealer: DigestSealer
    audit_log: SqlAuditLog
    telemetry: OtelTelemetry
    clock: SystemClock


def build_audit_digest(service_name: str, settings: Settings | None = None) -> AuditDigests:
    """Build the digest sealer over the audit store and the archive bucket from settings.

    The signing key is read on the first seal, not at cold start.
    """
    settings = settings or Settings.from_env()
    clock = SystemClock()
    provider = install_tracer_provider(service_name, settings.traces_file)
    engine = create_engine_for(settings.database_url)
    create_schema(engine)
    archive = S3DigestArchive(
        _required(settings.audit_archive_bucket, "audit_archive_bucket"),
        boto3.client("s3", config=_AWS_WRITE_CONFIG),
        retention_days=settings.audit_archive_retention_days,
    )
    sealer = DigestSealer(
        store=SqlAuditTrail(engine), archive=archive, signer=once(lambda: _audit_signer(settings)), clock=clock
    )
    return AuditDigests(
        settings=settings,
        sealer=sealer,
        audit_log=SqlAuditLog(engine),
        telemetry=OtelTelemetry(provider.get_tracer("leaim")),
        clock=clock,
    )


def _audit_signer(settings: Settings) -> DigestSigner:
    pem = _key_pem(settings.audit_signing_key_file, settings.audit_signing_key_secret_arn, "AUDIT_SIGNING_KEY")
    return DigestSigner.from_pem(pem)


def _gate(built: Core | Ingestion | Lifecycle | Oversight, *, max_body_bytes: int, source: str) -> HttpGate:
    """What an API function's governed HTTP entry point shares, from the services it was built with."""
    return HttpGate(
        keys=DynamoApiKeyStore(_required(built.settings.api_keys_table, "api_keys_table"), built.dynamodb),
        audit_log=built.audit_log,
        telemetry=built.telemetry,
        clock=built.clock,
        max_body_bytes=max_body_bytes,
        source=source,
    )


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`build` run on the first call of a container and its result reused by the following ones.

    Concurrent first calls (the local stack serves on threads) wait for the one build instead of making two.
    """
    lock = threading.Lock()
    built: list[T] = []

    def get() -> T:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    return get
