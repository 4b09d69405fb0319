"""Composition of the audit purge function: the purger over the audit store, the accepted store and the use cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leaim.adapters.dynamodb_audit import DynamoAcceptedStore
from leaim.adapters.sql import SqlAuditTrail
from leaim.adapters.sql.retention import SqlRetention
from leaim.bootstrap.digests import audit_signing_pem
from leaim.bootstrap.runtime import Runtime, build_runtime, once, required
from leaim.bootstrap.sql import sql_engine
from leaim.governance.audit.retention import Purger, PurgeSigner

if TYPE_CHECKING:
    from leaim.config import Settings


@dataclass(frozen=True)
class AuditPurges:
    """What the audit purge function needs: its runtime and the purger."""

    runtime: Runtime
    purger: Purger


def build_audit_purge(service_name: str, settings: Settings | None = None) -> AuditPurges:
    """Build the purger from settings: receipts are signed with the audit signing key, read on the first purge."""
    runtime = build_runtime(service_name, settings)
    settings = runtime.settings
    engine = sql_engine(settings)
    manifests = runtime.manifests(runtime.dynamodb)
    purger = Purger(
        manifests=lambda: [manifests.get(name) for name in manifests.names()],
        store=SqlRetention(engine),
        trail=SqlAuditTrail(engine),
        accepted=DynamoAcceptedStore(
            required(settings.accepted_table, "accepted_table"), runtime.dynamodb, clock=runtime.clock.now
        ),
        signer=once(lambda: PurgeSigner.from_pem(audit_signing_pem(settings))),
        clock=runtime.clock,
    )
    return AuditPurges(runtime=runtime, purger=purger)
