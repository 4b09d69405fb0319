"""SQLAlchemy engines for the audit store and the registry: SQLite embedded, PostgreSQL in the cloud.

In AWS the functions reach Aurora PostgreSQL through the RDS Proxy, which accepts no password: each new
connection presents an IAM authentication token, over TLS.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import SQLModel

from leaim.adapters.sql import tables
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from sqlite3 import Connection as SqliteConnection

    from sqlalchemy import Connection, Engine
    from sqlalchemy.engine import Dialect
    from sqlalchemy.pool import ConnectionPoolEntry

    from leaim.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 5_000
POSTGRES_CONNECT_TIMEOUT_S = 2
POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+psycopg"}
# Any fixed key works; it only has to be the same in every process creating the schema.
SCHEMA_LOCK_KEY = 0x1EA1_5C4E
# An RDS authentication token is accepted for 15 minutes after it is made. One is handed to new connections for
# 5 minutes, so that every token presented still has 10 minutes left (clock skew, a slow handshake).
IAM_TOKEN_REUSE_S = 300.0


@dataclass(frozen=True)
class ProxyEndpoint:
    """Where the functions reach PostgreSQL in AWS: the RDS Proxy, its database and the user they connect as."""

    host: str
    port: int
    database: str
    user: str


def create_store_engine(settings: Settings) -> Engine:
    """The engine of the SQL store that the settings name.

    `LEAIM_DATABASE_URL`, when given, wins: a SQLite file, a local PostgreSQL. Otherwise, with
    `LEAIM_DATABASE_HOST` set, PostgreSQL through the RDS Proxy with IAM authentication and TLS (and
    `LEAIM_DATABASE_NAME` and `LEAIM_DATABASE_USER` are required); otherwise the default SQLite file. A URL
    kept in Secrets Manager (`LEAIM_DATABASE_SECRET_ARN`, as the embedded default gives it) is read by the
    bootstrap, which then builds the engine with `create_engine_for` (`leaim.bootstrap.sql.sql_engine`).
    """
    if settings.database_host is None or "database_url" in settings.model_fields_set:
        return create_engine_for(settings.database_url)
    missing = [name for name in ("database_name", "database_user") if not getattr(settings, name)]
    if missing:
        names = " and ".join(f"LEAIM_{name.upper()}" for name in missing)
        raise ConfigurationError(f"LEAIM_DATABASE_HOST is set but {names} {'is' if len(missing) == 1 else 'are'} not")
    return create_iam_engine(
        ProxyEndpoint(
            host=settings.database_host,
            port=settings.database_port,
            database=str(settings.database_name),
            user=str(settings.database_user),
        )
    )


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


class IamAuthTokens:
    """RDS IAM authentication tokens for one endpoint and user, each reused for `reuse_s` seconds.

    A token is a SigV4-presigned request signed offline with the function's credentials (no call to AWS), so
    making one is cheap; reusing it for a few minutes spares the signing when a burst of connections opens.
    """

    def __init__(
        self,
        endpoint: ProxyEndpoint,
        rds_client: Any = None,
        *,
        reuse_s: float = IAM_TOKEN_REUSE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._rds = rds_client or boto3.client("rds")
        self._reuse_s = reuse_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._made_at = 0.0

    def current(self) -> str:
        """A token still well within its validity: the cached one, or a new one once it is `reuse_s` old."""
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._made_at >= self._reuse_s:
                self._token = str(
                    self._rds.generate_db_auth_token(
                        DBHostname=self.endpoint.host, Port=self.endpoint.port, DBUsername=self.endpoint.user
                    )
                )
                self._made_at = now
            return self._token

    def provide(
        self, _dialect: Dialect, _record: ConnectionPoolEntry, _args: list[Any], params: dict[str, Any]
    ) -> None:
        """SQLAlchemy's `do_connect` hook: the token is the password of every new connection."""
        params["password"] = self.current()


def create_iam_engine(endpoint: ProxyEndpoint, *, tokens: IamAuthTokens | None = None) -> Engine:
    """PostgreSQL through the RDS Proxy: an IAM token as the password of each new connection, TLS required."""
    tokens = tokens or IamAuthTokens(endpoint)
    url = URL.create(
        "postgresql+psycopg", username=endpoint.user, host=endpoint.host, port=endpoint.port, database=endpoint.database
    )
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
            # The proxy refuses clients without TLS; the token must never cross the network in the clear.
            "sslmode": "require",
            # Named server-side prepared statements would pin each session to one database connection; the
            # statement timeout is set by the proxy on its own connections, since startup options pin as well.
            "prepare_threshold": None,
        },
    )
    event.listen(engine, "do_connect", tokens.provide)
    return engine


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet; safe to call on every cold start, concurrently."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Concurrent cold starts would otherwise race on CREATE TABLE and fail on the catalog's unique keys.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        SQLModel.metadata.create_all(connection, tables=tables.ALL)
        _add_optional_columns(connection)
        _check_columns(connection)


def _add_optional_columns(connection: Connection) -> None:
    """Add to a store made by an earlier version the columns this one added that may be empty (NULL for its
    existing rows), so that an additive change needs no migration; any other missing column is refused next."""
    inspector = inspect(connection)
    for table in tables.ALL:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable or column.primary_key:
                continue
            kind = column.type.compile(dialect=connection.dialect)
            name = connection.dialect.identifier_preparer.quote(column.name)
            connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}"))


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
