"""Composition of the governance functions: the governance API, the drift monitor and the audit digests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.audit_archive import S3DigestArchive
from leaim.adapters.invocations import CloudWatchInvocationLedger, JsonlInvocationLedger
from leaim.adapters.sql import SqlAuditTrail, SqlModelRegistry
from leaim.adapters.sql.oversight import SqlOversight
from leaim.bootstrap.lifecycle import Lifecycle, build_lifecycle
from leaim.bootstrap.runtime import (
    AWS_CONFIG,
    AWS_WRITE_CONFIG,
    Runtime,
    build_runtime,
    key_pem,
    manifest_signer,
    once,
    required,
)
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.api import GovernanceApi
from leaim.governance.audit.sealing import DigestSealer, DigestSigner
from leaim.governance.oversight.reviews import ReviewService

if TYPE_CHECKING:
    from leaim.config import Settings
    from leaim.governance.oversight.monitor import Monitor
    from leaim.governance.oversight.ports import InvocationLedger


@dataclass(frozen=True)
class Oversight:
    """What the governance API function needs: its runtime, the oversight store, the catalog and the registry."""

    runtime: Runtime
    store: SqlOversight
    catalog: ManifestCatalog
    registry: SqlModelRegistry
    dynamodb: Any


def build_oversight(service_name: str, settings: Settings | None = None) -> Oversight:
    """Build the oversight store and its neighbours from settings (default: the environment)."""
    runtime = build_runtime(service_name, settings)
    return Oversight(
        runtime=runtime,
        store=SqlOversight(runtime.engine),
        catalog=ManifestCatalog.from_directory(runtime.settings.use_cases_dir),
        registry=SqlModelRegistry(runtime.engine),
        dynamodb=boto3.client("dynamodb", config=AWS_CONFIG),
    )


def _ledger(settings: Settings) -> InvocationLedger:
    if settings.invocation_ledger_file is not None:
        return JsonlInvocationLedger(settings.invocation_ledger_file)
    names = [name.strip() for name in settings.audited_functions.split(",") if name.strip()]
    # The function cannot name itself in its own template entry; Lambda tells it its name.
    own = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if own and own not in names:
        names.append(own)
    return CloudWatchInvocationLedger(names, boto3.client("cloudwatch", config=AWS_WRITE_CONFIG))


def build_governance_api(oversight: Oversight, *, source: str) -> GovernanceApi:
    """The governance API of the governance API function."""
    # Imported here, as in `build_monitor`: the statistics need numpy, which the other functions' cold starts skip.
    from leaim.governance.oversight.outcomes import OutcomeService
    from leaim.governance.reports import GovernanceReports

    runtime = oversight.runtime
    settings = runtime.settings
    signer = once(lambda: manifest_signer(settings))
    reports = GovernanceReports(
        store=oversight.store,
        catalog=oversight.catalog,
        router=oversight.registry,
        registry=oversight.registry,
        ledger=_ledger(settings),
        verifies=lambda signed: signer().verifies(signed),
        clock=runtime.clock,
    )
    return GovernanceApi(
        trail=runtime.audit_log,
        outcomes=OutcomeService(store=oversight.store, catalog=oversight.catalog, clock=runtime.clock),
        reviews=ReviewService(store=oversight.store, catalog=oversight.catalog, clock=runtime.clock),
        reports=reports,
        store=oversight.store,
        catalog=oversight.catalog,
        gate=runtime.http_gate(oversight.dynamodb, max_body_bytes=settings.max_body_bytes, source=source),
    )


def build_monitor(lifecycle: Lifecycle) -> Monitor:
    """The drift and bias monitor; it asks the lifecycle for retraining when a champion drifts."""
    from leaim.governance.oversight.monitor import Monitor

    return Monitor(
        catalog=lifecycle.manifests,
        router=lifecycle.registry,
        registry=lifecycle.registry,
        store=SqlOversight(lifecycle.runtime.engine),
        retrainer=lifecycle.jobs,
        clock=lifecycle.runtime.clock,
    )


@dataclass(frozen=True)
class Monitoring:
    """What the drift monitor function needs: the lifecycle it asks for retraining, and the monitor."""

    lifecycle: Lifecycle
    monitor: Monitor

    @property
    def runtime(self) -> Runtime:
        """The lifecycle's runtime, which the monitor's runs are audited through."""
        return self.lifecycle.runtime


def build_monitoring(service_name: str, settings: Settings | None = None) -> Monitoring:
    """Build the lifecycle and the drift and bias monitor over it from settings."""
    lifecycle = build_lifecycle(service_name, settings)
    return Monitoring(lifecycle=lifecycle, monitor=build_monitor(lifecycle))


@dataclass(frozen=True)
class AuditDigests:
    """What the audit digest function needs: its runtime and the sealer of digests."""

    runtime: Runtime
    sealer: DigestSealer


def build_audit_digest(service_name: str, settings: Settings | None = None) -> AuditDigests:
    """Build the digest sealer over the audit store and the archive bucket from settings.

    The signing key is read on the first seal, not at cold start.
    """
    runtime = build_runtime(service_name, settings)
    settings = runtime.settings
    archive = S3DigestArchive(
        required(settings.audit_archive_bucket, "audit_archive_bucket"),
        boto3.client("s3", config=AWS_WRITE_CONFIG),
        retention_days=settings.audit_archive_retention_days,
    )
    sealer = DigestSealer(
        store=SqlAuditTrail(runtime.engine),
        archive=archive,
        signer=once(lambda: _audit_signer(settings)),
        clock=runtime.clock,
    )
    return AuditDigests(runtime=runtime, sealer=sealer)


def _audit_signer(settings: Settings) -> DigestSigner:
    pem = key_pem(settings.audit_signing_key_file, settings.audit_signing_key_secret_arn, "AUDIT_SIGNING_KEY")
    return DigestSigner.from_pem(pem)
