"""The SQL audit store, for the functions that read or write it: every one but the decision and ingest functions.

Importing this module loads SQLAlchemy and SQLModel; the functions that answer without SQL never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leaim.adapters.sql import SqlAuditLog, create_schema, create_store_engine

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leaim.config import Settings


def sql_engine(settings: Settings) -> Engine:
    """The engine of the SQL store (a URL, or the RDS Proxy with IAM auth), its schema created where it is missing."""
    engine = create_store_engine(settings)
    create_schema(engine)
    return engine


def sql_trail(engine: Engine) -> SqlAuditLog:
    """The read side of the hash chains: audit search and export."""
    return SqlAuditLog(engine)
