"""SQL adapters on SQLite or PostgreSQL: audit log and trail, decisions, registry, training jobs, version stats."""

from leaim.adapters.sql.audit_log import SqlAuditLog
from leaim.adapters.sql.decisions import SqlDecisionStore
from leaim.adapters.sql.engine import create_engine_for, create_schema, create_store_engine
from leaim.adapters.sql.exceptions import DuplicateDecisionError, ModelVersionExistsError, StoreUnavailableError
from leaim.adapters.sql.jobs import SqlTrainingJobStore
from leaim.adapters.sql.registry import SqlModelRegistry
from leaim.adapters.sql.stats import SqlVersionStats
from leaim.adapters.sql.trail import SqlAuditTrail

__all__ = [
    "DuplicateDecisionError",
    "ModelVersionExistsError",
    "SqlAuditLog",
    "SqlAuditTrail",
    "SqlDecisionStore",
    "SqlModelRegistry",
    "SqlTrainingJobStore",
    "SqlVersionStats",
    "StoreUnavailableError",
    "create_engine_for",
    "create_schema",
    "create_store_engine",
]
