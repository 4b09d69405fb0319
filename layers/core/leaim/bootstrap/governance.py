"""Composition of the governance API function: audit search and export, outcomes, reviews, reports."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3

from leaim.adapters.documents import S3DocumentStore
from leaim.adapters.dynamodb_audit import DynamoDecisions
from leaim.adapters.invocations import CloudWatchInvocationLedger, JsonlInvocationLedger
from leaim.adapters.sql import SqlAuditLog, SqlModelRegistry
from leaim.adapters.sql.intake import SqlIntakeHistory
from leaim.adapters.sql.oversight import AcceptedFirstOversight, SqlOversight
from leaim.adapters.sql.process import SqlProcessHistory
from leaim.adapters.sql.retention import SqlRetention
from leaim.bootstrap.runtime import (
    AWS_CONFIG,
    AWS_WRITE_CONFIG,
    Runtime,
    build_runtime,
    manifest_signer,
    once,
    required,
)
from leaim.bootstrap.sql import sql_engine, sql_trail
from leaim.governance.access.openapi import DOCUMENT
from leaim.governance.api import GovernanceApi
from leaim.governance.oversight.reviews import ReviewService
from leaim.lifecycle.documents import records_prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from leaim.config import Settings
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.oversight.ports import InvocationLedger


@dataclass(frozen=True)
class Oversight:
    """What the governance API function needs: its runtime, the oversight store, the catalog and the registry."""

    runtime: Runtime
    store: SqlOversight
    trail: SqlAuditLog
    intake: SqlIntakeHistory
    catalog: ManifestCatalog
    registry: SqlModelRegistry
    history: SqlProcessHistory
    retention: SqlRetention
    dynamodb: Any


def build_oversight(service_name: str, settings: Settings | None = None) -> Oversight:
    """Build the oversight store and its neighbours from settings (default: the environment)."""
    runtime = build_runtime(service_name, settings)
    engine = sql_engine(runtime.settings)
    accepted = DynamoDecisions(required(runtime.settings.accepted_table, "accepted_table"), runtime.dynamodb)
    return Oversight(
        runtime=runtime,
        store=AcceptedFirstOversight(engine, accepted),
        trail=sql_trail(engine),
        intake=SqlIntakeHistory(engine),
        catalog=runtime.manifests(runtime.dynamodb),
        registry=SqlModelRegistry(engine),
        history=SqlProcessHistory(engine),
        retention=SqlRetention(engine),
        dynamodb=boto3.client("dynamodb", config=AWS_CONFIG),
    )


def _archived_kinds(settings: Settings) -> Callable[[str, str], set[str]] | None:
    """The kinds of document archived beside a model version, read from the artifacts bucket where it is set; its
    client is made by the first coverage report, not at cold start."""
    bucket = settings.artifacts_bucket
    if bucket is None:
        return None
    store = once(lambda: S3DocumentStore(bucket, boto3.client("s3", config=AWS_CONFIG)))

    def kinds(model: str, version: str) -> set[str]:
        return {record.kind for record in store().records(records_prefix(model, version))}

    return kinds


def _openapi_document() -> dict[str, Any]:
    """The committed OpenAPI document, which the contracts layer ships beside the contracts it describes."""
    document: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return document


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
    # Imported here: the statistics need numpy, which the governance API loads only when it first builds them.
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
        history=oversight.history,
        clock=runtime.clock,
        intake=oversight.intake,
        archived=_archived_kinds(settings),
    )
    return GovernanceApi(
        trail=oversight.trail,
        outcomes=OutcomeService(store=oversight.store, catalog=oversight.catalog, clock=runtime.clock),
        reviews=ReviewService(store=oversight.store, catalog=oversight.catalog, clock=runtime.clock),
        reports=reports,
        store=oversight.store,
        catalog=oversight.catalog,
        holds=oversight.retention,
        openapi=_openapi_document(),
        gate=runtime.http_gate(oversight.dynamodb, max_body_bytes=settings.max_body_bytes, source=source),
    )
