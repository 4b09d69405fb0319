"""SQL adapters on SQLite or PostgreSQL: audit log, decisions, model registry, training jobs, version stats."""

from leaim.adapters.sql.audit import SqlAuditLog, SqlDecisionStore
from leaim.adapters.sql.engine import create_engine_for, create_schema
from leaim.adapters.sql.exceptions import DuplicateDecisionError, ModelVersionExistsError, StoreUnavailableError
from leaim.adapters.sql.jobs import SqlTrainingJobStore
from leaim.adapters.sql.registry import SqlModelRegistry
from leaim.adapters.sql.stats import SqlVersionStats

__all__ = [
    "DuplicateDecisionError",
    "ModelVersionExistsError",
    "SqlAuditLog",
    "SqlDecisionStore",
    "SqlModelRegistry",
    "SqlTrainingJobStore",
    "SqlVersionStats",
    "StoreUnavailableError",
    "create_engine_for",
    "create_schema",
]
