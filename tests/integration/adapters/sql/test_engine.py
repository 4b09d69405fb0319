"""Engines and schema: URL handling, SQLite durability settings, idempotent schema creation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import inspect, text

from leaim.adapters.sql import create_engine_for, create_schema
from leaim.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

TABLES = {"audit_events", "decisions", "model_versions", "traffic_policies", "training_jobs"}


def test_postgresql_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u@db.example:5432/leaim", "postgres://u@db.example/leaim"):
        engine = create_engine_for(url)
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.dialect.driver == "psycopg"


def test_sqlite_creates_the_parent_folder(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'nested' / 'deeper' / 'leaim.db'}")
    create_schema(engine)
    engine.dispose()
    assert (tmp_path / "nested" / "deeper" / "leaim.db").is_file()


def test_sqlite_connections_are_durable_and_enforce_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'leaim.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # Shorter than the function timeout (10 s): a locked store fails the invocation, not the Lambda.
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5_000
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="not durable"):
        create_engine_for(url)


def test_other_databases_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unsupported database URL mysql://leaim:\\*\\*\\*@db/leaim"):
        create_engine_for("mysql://leaim:secret@db/leaim")


def test_malformed_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="invalid database URL"):
        create_engine_for("not a url")


def test_create_schema_is_idempotent(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO model_versions (name, version, use_case, family, artifact_digest, feature_names, status,"
                " manifest, created_at) VALUES ('m', 'v1', 'u', 'f', '0', '[]', 'approved', '{}', CURRENT_TIMESTAMP)"
            )
        )
    create_schema(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM model_versions")).scalar() == 1


def test_audit_events_are_indexed_for_the_queries_that_read_them(engine: Engine) -> None:
    indexed = {tuple(index["column_names"]) for index in inspect(engine).get_indexes("audit_events")}
    assert {("trace_id",), ("decision_id",), ("occurred_at",), ("source", "action", "outcome")} <= indexed


def test_a_store_made_by_an_earlier_version_is_refused_naming_the_missing_columns(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE model_versions (name TEXT, version TEXT, artifact_digest TEXT, family TEXT,"
                " feature_names TEXT, params TEXT, metrics TEXT, created_at TIMESTAMP, PRIMARY KEY (name, version))"
            )
        )
    with pytest.raises(
        ConfigurationError, match=r"earlier version: it lacks model_versions\.use_case, model_versions\.status"
    ):
        create_schema(engine)


def test_a_column_an_earlier_version_lacked_that_may_be_empty_is_added_at_start(engine: Engine) -> None:
    create_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE alerts DROP COLUMN evidence"))
    assert "evidence" not in {column["name"] for column in inspect(engine).get_columns("alerts")}

    create_schema(engine)
    create_schema(engine)

    assert "evidence" in {column["name"] for column in inspect(engine).get_columns("alerts")}
