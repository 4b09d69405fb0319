"""Composition of the lifecycle functions: training jobs, the registry, promotion and the promotion controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.documents import S3DocumentStore
from leaim.adapters.dynamodb import DynamoRecordLedger
from leaim.adapters.dynamodb_policies import DynamoPolicyStore
from leaim.adapters.dynamodb_traffic import DynamoTrafficPlans
from leaim.adapters.s3 import S3ObjectStore
from leaim.adapters.sql import SqlModelRegistry, SqlTrainingJobStore, SqlVersionStats
from leaim.adapters.sql.stats import SqlShadowOutcomes
from leaim.adapters.sqs import SqsJobQueue
from leaim.bootstrap.runtime import (
    AWS_WRITE_CONFIG,
    Runtime,
    build_runtime,
    manifest_signer,
    modal_credentials,
    once,
    required,
)
from leaim.bootstrap.sql import sql_engine
from leaim.data.snapshots import SnapshotService
from leaim.lifecycle.api import LifecycleApi
from leaim.lifecycle.consumer import TrainingConsumer
from leaim.lifecycle.document_api import DocumentApi
from leaim.lifecycle.documents import DocumentArchive
from leaim.lifecycle.policies import PolicyRegistry
from leaim.lifecycle.policy_api import PolicyApi
from leaim.lifecycle.promotion import PromotionController, PromotionService, VersionVerifier
from leaim.lifecycle.signing import DocumentSigner, PolicySigner
from leaim.lifecycle.stops import StopService
from leaim.lifecycle.training import TrainingJobs
from leaim.serving.loading import WorkerModelLoader
from leaim.serving.workers import build_worker_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Engine

    from leaim.config import Settings
    from leaim.data.datasets import DatasetCatalog
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.lifecycle.signing import ManifestSigner
    from leaim.serving.ports import WorkerClient


@dataclass(frozen=True)
class Lifecycle:
    """What every lifecycle function shares: its runtime, training jobs, promotion and the registry."""

    runtime: Runtime
    engine: Engine
    jobs: TrainingJobs
    promotions: PromotionService
    controller: PromotionController
    registry: SqlModelRegistry
    stops: StopService
    dynamodb: Any
    manifests: ManifestCatalog
    datasets: DatasetCatalog
    signer: Callable[[], ManifestSigner]
    s3: Any


def build_lifecycle(
    service_name: str, settings: Settings | None = None, *, workers: WorkerClient | None = None
) -> Lifecycle:
    """Build the training jobs, promotion service and controller and their adapters from settings.

    The signing key is read only where it is used: by the training function, which signs manifests, and by
    a promotion, which verifies the version's signature with it. A promotion also has one worker load the
    version where this function can reach workers: the local worker hosts, or Modal once it has a token.
    """
    runtime = build_runtime(service_name, settings)
    settings, clock = runtime.settings, runtime.clock
    engine = sql_engine(settings)
    dynamodb = boto3.client("dynamodb", config=AWS_WRITE_CONFIG)
    plans = DynamoTrafficPlans(required(settings.traffic_table, "traffic_table"), dynamodb)
    registry = SqlModelRegistry(engine, plans=plans)
    manifests, datasets = runtime.catalogs(dynamodb)
    s3 = boto3.client("s3", config=AWS_WRITE_CONFIG)
    snapshots = SnapshotService(
        datasets=datasets,
        manifests=manifests,
        objects=S3ObjectStore(required(settings.datasets_bucket, "datasets_bucket"), s3),
        ledger=DynamoRecordLedger(required(settings.ingest_ledger_table, "ingest_ledger_table"), dynamodb),
        clock=clock,
    )

    def worker_client() -> WorkerClient:
        # Only the training function calls workers: the other lifecycle functions need no Modal token.
        modal_credentials(settings)
        return workers or build_worker_client(settings)

    shared_workers = once(worker_client)
    artifacts = S3ObjectStore(required(settings.artifacts_bucket, "artifacts_bucket"), s3)
    signer = once(lambda: manifest_signer(settings))
    reaches_workers = settings.worker_backend == "local" or settings.modal_token_secret_arn is not None
    verifier = VersionVerifier(
        artifacts=artifacts,
        verifies=lambda signed: signer().verifies(signed),
        loader=WorkerModelLoader(shared_workers, clock) if reaches_workers else None,
    )
    jobs = TrainingJobs(
        manifests=manifests,
        datasets=datasets,
        snapshots=snapshots,
        jobs=SqlTrainingJobStore(engine),
        queue=SqsJobQueue(
            required(settings.training_queue_url, "training_queue_url"),
            boto3.client("sqs", config=AWS_WRITE_CONFIG),
        ),
        registry=registry,
        artifacts=artifacts,
        workers=shared_workers,
        signer=signer,
        audit_log=runtime.audit_log,
        telemetry=runtime.telemetry,
        clock=clock,
        code_version=settings.code_version,
    )
    return Lifecycle(
        runtime=runtime,
        engine=engine,
        jobs=jobs,
        promotions=PromotionService(registry=registry, manifests=manifests, verifier=verifier),
        controller=PromotionController(
            registry=registry, stats=SqlVersionStats(engine), manifests=manifests, clock=clock
        ),
        registry=registry,
        stops=StopService(switch=plans, manifests=manifests, clock=clock),
        dynamodb=dynamodb,
        manifests=manifests,
        datasets=datasets,
        signer=signer,
        s3=s3,
    )


def build_lifecycle_api(lifecycle: Lifecycle, *, source: str) -> LifecycleApi:
    """The lifecycle API of the lifecycle API function."""
    runtime = lifecycle.runtime
    return LifecycleApi(
        jobs=lifecycle.jobs,
        promotions=lifecycle.promotions,
        registry=lifecycle.registry,
        stops=lifecycle.stops,
        gate=runtime.http_gate(lifecycle.dynamodb, max_body_bytes=runtime.settings.max_body_bytes, source=source),
    )


def build_document_api(lifecycle: Lifecycle, *, source: str) -> DocumentApi:
    """The archived documents of model versions, in the lifecycle API function: signed with the manifest signing
    key, kept in the artifacts bucket beside each version."""
    runtime = lifecycle.runtime
    settings = runtime.settings
    signer = once(lambda: DocumentSigner.from_pem(lifecycle.signer().pem()))
    archive = DocumentArchive(
        registry=lifecycle.registry,
        store=S3DocumentStore(required(settings.artifacts_bucket, "artifacts_bucket"), lifecycle.s3),
        signer=signer,
        clock=runtime.clock,
    )
    return DocumentApi(
        jobs=lifecycle.jobs,
        archive=archive,
        gate=runtime.http_gate(lifecycle.dynamodb, max_body_bytes=settings.max_document_bytes, source=source),
    )


def build_training_consumer(lifecycle: Lifecycle, *, source: str) -> TrainingConsumer:
    """The consumer of the training queue."""
    runtime = lifecycle.runtime
    return TrainingConsumer(
        jobs=lifecycle.jobs,
        audit_log=runtime.audit_log,
        telemetry=runtime.telemetry,
        clock=runtime.clock,
        source=source,
    )


def build_policy_registry(
    *,
    table: str,
    dynamodb: Any,
    signer: ManifestSigner,
    manifests: ManifestCatalog,
    models: SqlModelRegistry,
    engine: Engine,
    clock: Clock,
) -> PolicyRegistry:
    """The policy registry on `table`, signing with the manifest signing key, checking each activation against the
    use case's champion in `models`, and reading shadow outcomes from the audit store on `engine`."""

    def live_features(use_case: str) -> list[str] | None:
        traffic = models.traffic(use_case)
        if traffic is None or traffic.champion is None:
            return None
        champion = models.get(traffic.model_name, traffic.champion)
        return None if champion is None else list(champion.manifest.feature_names)

    return PolicyRegistry(
        store=DynamoPolicyStore(table, dynamodb),
        signer=PolicySigner.from_pem(signer.pem()),
        manifests=manifests,
        live_features=live_features,
        shadow_outcomes=SqlShadowOutcomes(engine),
        clock=clock,
    )


def seed_policies(policies: PolicyRegistry, manifests: ManifestCatalog, datasets: DatasetCatalog) -> list[str]:
    """Register the bootstrap files not registered yet (use cases first, then dataset versions in order); the
    names of the versions registered, as `<subject> v<n>`."""
    seeded = []
    for name, manifest in sorted(manifests.files().items()):
        version = policies.seed("use_case", manifest.model_dump(mode="json"), origin=f"file:use_cases/{name}.yaml")
        seeded += [] if version is None else [f"{name} v{version.version}"]
    for dataset, versions in sorted(datasets.files().items()):
        for number in sorted(versions, key=lambda text: int(text.removeprefix("v"))):
            contract = versions[number]
            origin = f"file:datasets/{dataset}.{number}.yaml"
            version = policies.seed("dataset", contract.model_dump(mode="json"), origin=origin)
            seeded += [] if version is None else [f"{dataset} v{version.version}"]
    return seeded


def build_policy_api(lifecycle: Lifecycle, *, source: str) -> PolicyApi:
    """The policy registry's API, in the lifecycle API function; the bootstrap files are seeded on its first build."""
    runtime = lifecycle.runtime
    policies = build_policy_registry(
        table=required(runtime.settings.policies_table, "policies_table"),
        dynamodb=lifecycle.dynamodb,
        signer=lifecycle.signer(),
        manifests=lifecycle.manifests,
        models=lifecycle.registry,
        engine=lifecycle.engine,
        clock=runtime.clock,
    )
    seed_policies(policies, lifecycle.manifests, lifecycle.datasets)
    return PolicyApi(
        registry=policies,
        gate=runtime.http_gate(lifecycle.dynamodb, max_body_bytes=runtime.settings.max_body_bytes, source=source),
    )
