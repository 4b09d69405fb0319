"""SQL adapters: the audit log, the decision store and the model registry on SQLite or PostgreSQL."""

from leaim.adapters.sql.audit import SqlAuditLog, SqlDecisionStore
from leaim.adapters.sql.engine import create_engine_for, create_schema
from leaim.adapters.sql.exceptions import DuplicateDecisionError, ModelVersionExistsError, StoreUnavailableError
from leaim.adapters.sql.registry import ModelVersion, SqlModelRegistry

__all__ = [
    "DuplicateDecisionError",
    "ModelVersion",
    "ModelVersionExistsError",
    "SqlAuditLog",
    "SqlDecisionStore",
    "SqlModelRegistry",
    "StoreUnavailableError",
    "create_engine_for",
    "create_schema",
]
