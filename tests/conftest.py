"""Fixtures shared by every test: a fresh SQLite file and a fresh PostgreSQL schema per test, and (from
`tests.support.workers`) models trained and signed for the GPU worker tests."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from leaim.adapters.sql import create_engine_for, create_schema

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

pytest_plugins = ["tests.support.workers"]

POSTGRES_URL_VARIABLE = "LEAIM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _libpq_url(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A database created for this test session on the PostgreSQL server, dropped at the end."""
    server_url = os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL)
    shown = make_url(server_url).render_as_string(hide_password=True)
    name = f"leaim_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(_libpq_url(server_url), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {shown} (set {POSTGRES_URL_VARIABLE} to another server): {error}",
            pytrace=False,
        )
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _libpq_url(server_url, database=name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _empty_public_schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        # A connection leaked by an earlier test must not hang the suite: fail after ten seconds instead.
        connection.execute("SET lock_timeout = '10s'")
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file in tmp_path, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'leaim.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    _empty_public_schema(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url` with the schema created, disposed after the test."""
    built = create_engine_for(database_url)
    create_schema(built)
    yield built
    built.dispose()
