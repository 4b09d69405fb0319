"""Access policy: which role may do what. Authentication maps an API key to a principal and role."""

from __future__ import annotations

import hashlib
from enum import StrEnum


class Permission(StrEnum):
    """Actions the API guards."""

    CREATE_DECISION = "decisions:create"
    READ_DECISION = "decisions:read"
    INGEST_RECORDS = "datasets:ingest"
    READ_QUARANTINE = "datasets:quarantine:read"
    REPLAY_QUARANTINE = "datasets:quarantine:replay"
    CREATE_SNAPSHOT = "datasets:snapshots:create"
    READ_SNAPSHOTS = "datasets:snapshots:read"
    TRAIN_MODELS = "models:train"
    READ_MODELS = "models:read"
    PROMOTE_MODELS = "models:promote"
    RECORD_OUTCOME = "decisions:outcome"
    REVIEW_DECISIONS = "decisions:review"
    READ_MONITORING = "monitoring:read"
    READ_AUDIT = "audit:read"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "decision_client": frozenset({Permission.CREATE_DECISION, Permission.READ_DECISION, Permission.RECORD_OUTCOME}),
    "reviewer": frozenset({Permission.READ_DECISION, Permission.REVIEW_DECISIONS}),
    "auditor": frozenset(
        {
            Permission.READ_DECISION,
            Permission.READ_QUARANTINE,
            Permission.READ_SNAPSHOTS,
            Permission.READ_MODELS,
            Permission.READ_MONITORING,
            Permission.READ_AUDIT,
        }
    ),
    "ml_engineer": frozenset(
        {
            Permission.CREATE_SNAPSHOT,
            Permission.READ_SNAPSHOTS,
            Permission.TRAIN_MODELS,
            Permission.READ_MODELS,
            Permission.PROMOTE_MODELS,
            Permission.READ_MONITORING,
        }
    ),
    "data_producer": frozenset({Permission.INGEST_RECORDS}),
    "data_steward": frozenset(
        {
            Permission.INGEST_RECORDS,
            Permission.READ_QUARANTINE,
            Permission.REPLAY_QUARANTINE,
            Permission.CREATE_SNAPSHOT,
            Permission.READ_SNAPSHOTS,
            Permission.RECORD_OUTCOME,
        }
    ),
}


def is_allowed(role: str, permission: Permission) -> bool:
    """Whether `role` holds `permission`; unknown roles hold nothing."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def key_digest(api_key: str) -> str:
    """The sha256 under which an API key is stored: keys themselves are never stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()
