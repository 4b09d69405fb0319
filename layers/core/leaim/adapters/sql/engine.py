"""SQLAlchemy engines for the audit store and the registry: SQLite embedded, PostgreSQL in the cloud."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import SQLModel

from leaim.adapters.sql import tables
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from sqlite3 import Connection as SqliteConnection

    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import URL
    from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 5_000
POSTGRES_CONNECT_TIMEOUT_S = 2
POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
# Any fixed key works; it only has to be the same in every process creating the schema.
SCHEMA_LOCK_KEY = 0x1EA1_5C4E


def create_engine_for(url: str) -> Engine:
    """Build an engine for `url`: `sqlite:///path` (file only) or `postgresql[+psycopg]://...`."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(f"invalid database URL {url!r}") from error
    if parsed.drivername in {"sqlite", "sqlite+pysqlite"}:
        return _sqlite_engine(parsed)
    if parsed.drivername in POSTGRES_DRIVERS:
        # Bounded waits: a stuck database must fail the invocation well inside the function's timeout.
        return create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_pre_ping=True,
            connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "options": "-c statement_timeout=5000"},
        )
    raise ConfigurationError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)}: use sqlite:/// or postgresql://"
    )


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet; safe to call on every cold start, concurrently."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Concurrent cold starts would otherwise race on CREATE TABLE and fail on the catalog's unique keys.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        SQLModel.metadata.create_all(connection, tables=tables.ALL)
        _check_columns(connection)


def _check_columns(connection: Connection) -> None:
    """Refuse a store whose existing tables lack columns this code writes: it was made by an earlier version."""
    inspector = inspect(connection)
    missing = []
    for table in tables.ALL:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing += [f"{table.name}.{column.name}" for column in table.columns if column.name not in present]
    if missing:
        raise ConfigurationError(
            f"the store at {connection.engine.url.render_as_string(hide_password=True)} was made by an earlier "
            f"version: it lacks {', '.join(missing)}; migrate it, or remove it if it holds nothing to keep"
        )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        # Each pooled connection would see its own empty database, and nothing would survive the process.
        raise ConfigurationError("an in-memory SQLite database is not durable: give sqlite:///path/to/file.db")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: SqliteConnection, _record: ConnectionPoolEntry) -> None:
    # The driver's own implicit BEGIN is deferred; `_begin_immediate` issues the transaction start instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so switching the journal mode also waits for other connections.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # A deferred transaction that reads and then writes cannot wait for the write lock: SQLite answers
    # "database is locked" at once. Taking the lock at BEGIN lets busy_timeout queue concurrent writers.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
