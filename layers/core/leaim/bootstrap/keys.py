"""Composition of key management: the key table, the accepted store its changes are audited into, the catalogs."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from leaim.adapters.dynamodb import DynamoApiKeyStore
from leaim.adapters.dynamodb_audit import DynamoAuditLog
from leaim.adapters.dynamodb_policies import DynamoPolicyStore
from leaim.data.datasets import DatasetCatalog
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import ManifestCatalog
from leaim.domain.policies import LivePolicies
from leaim.governance.access.keys import KeyAdministration

if TYPE_CHECKING:
    from pathlib import Path


def build_key_administration(
    *,
    keys_table: str,
    accepted_table: str,
    dynamodb: Any,
    operator: str,
    use_cases_dir: Path | None = None,
    datasets_dir: Path | None = None,
    policies_table: str | None = None,
) -> KeyAdministration:
    """Key management on `keys_table`, its changes audited into `accepted_table` as `operator`.

    Scopes are checked against the use cases and datasets of the policy registry on `policies_table`, and of the
    given folders (the shipped ones by default) for those not registered.
    """
    if policies_table is None:
        manifests = ManifestCatalog.from_directory(use_cases_dir)
        datasets = DatasetCatalog.from_directory(manifests, datasets_dir)
    else:
        policies = LivePolicies(DynamoPolicyStore(policies_table, dynamodb), monotonic=time.monotonic, ttl_s=0.0)
        manifests = ManifestCatalog.live(policies, use_cases_dir)
        datasets = DatasetCatalog.live(policies, manifests, datasets_dir)
    return KeyAdministration(
        registry=DynamoApiKeyStore(keys_table, dynamodb),
        audit_log=DynamoAuditLog(accepted_table, dynamodb, clock=time.time),
        clock=SystemClock(),
        operator=operator,
        trace_id=uuid.uuid4().hex,
        known_use_cases=manifests.names(),
        known_datasets=datasets.names(),
    )
