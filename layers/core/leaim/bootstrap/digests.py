"""Composition of the audit digest function: the sealer over the audit store and the archive bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

from leaim.adapters.audit_archive import S3DigestArchive
from leaim.adapters.sql import SqlAuditTrail
from leaim.bootstrap.runtime import (
    AWS_WRITE_CONFIG,
    Runtime,
    build_runtime,
    key_pem,
    once,
    required,
)
from leaim.bootstrap.sql import sql_engine
from leaim.governance.audit.sealing import DigestSealer, DigestSigner

if TYPE_CHECKING:
    from leaim.config import Settings


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
        store=SqlAuditTrail(sql_engine(settings)),
        archive=archive,
        signer=once(lambda: DigestSigner.from_pem(audit_signing_pem(settings))),
        clock=runtime.clock,
    )
    return AuditDigests(runtime=runtime, sealer=sealer)


def audit_signing_pem(settings: Settings) -> bytes:
    """The audit signing key's PEM, which signs digests and purge receipts: its file locally, its secret in AWS."""
    return key_pem(settings.audit_signing_key_file, settings.audit_signing_key_secret_arn, "AUDIT_SIGNING_KEY")
