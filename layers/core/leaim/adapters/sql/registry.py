"""Model registry on SQL: immutable model versions and the version each use case routes to."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from leaim.adapters.sql.exceptions import ModelVersionExistsError, StoreUnavailableError
from leaim.adapters.sql.tables import ModelVersionRow, UseCaseRouteRow, utc_now
from leaim.exceptions import NotFoundError
from leaim.orchestration.ports import ActiveModel

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sqlalchemy import Engine


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered, immutable model version."""

    name: str
    version: str
    artifact_digest: str
    family: str
    feature_names: tuple[str, ...]
    params: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime


class SqlModelRegistry:
    """Registry of model versions and `ModelRouter` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def register(
        self,
        name: str,
        version: str,
        *,
        artifact_digest: str,
        family: str,
        feature_names: Sequence[str],
        params: Mapping[str, object],
        metrics: Mapping[str, float],
    ) -> ModelVersion:
        """Record a new version and return it.

        Registering the same version again with identical contents returns the stored one, so retries are
        safe; with any difference it raises ModelVersionExistsError, because versions never change.
        """
        row = ModelVersionRow(
            name=name,
            version=version,
            artifact_digest=artifact_digest,
            family=family,
            feature_names=list(feature_names),
            params=_json_document(params, "params"),
            metrics=_json_document(metrics, "metrics"),
        )
        candidate = _model_version(row)
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
        except IntegrityError as error:
            existing = self.get(name, version)
            if existing is None:
                raise StoreUnavailableError(f"model version {name}:{version} could not be registered") from error
            if not _same_contents(existing, candidate):
                raise ModelVersionExistsError(existing) from error
            return existing
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"model version {name}:{version} could not be registered") from error
        return _model_version(row)

    def activate(self, use_case: str, name: str, version: str) -> ActiveModel:
        """Send `use_case`'s traffic to a registered version; NotFoundError if it is not registered."""
        route = {"use_case": use_case, "model_name": name, "model_version": version, "updated_at": utc_now()}
        try:
            with Session(self._engine) as session, session.begin():
                row = session.get(ModelVersionRow, (name, version))
                if row is None:
                    raise NotFoundError(f"model version {name}:{version} is not registered")
                insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
                statement = insert(UseCaseRouteRow).values(route)
                session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[col(UseCaseRouteRow.use_case)],
                        set_={key: statement.excluded[key] for key in ("model_name", "model_version", "updated_at")},
                    )
                )
                active = _active_model(row)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"use case {use_case!r} could not be routed to {name}:{version}") from error
        return active

    def active_model(self, use_case: str) -> ActiveModel | None:
        """The version serving `use_case`, or None before any version is activated."""
        statement = (
            select(ModelVersionRow)
            .join(
                UseCaseRouteRow,
                (col(UseCaseRouteRow.model_name) == col(ModelVersionRow.name))
                & (col(UseCaseRouteRow.model_version) == col(ModelVersionRow.version)),
            )
            .where(col(UseCaseRouteRow.use_case) == use_case)
        )
        try:
            with Session(self._engine) as session:
                row = session.exec(statement).first()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"route of use case {use_case!r} could not be read") from error
        return None if row is None else _active_model(row)

    def get(self, name: str, version: str) -> ModelVersion | None:
        """A registered version, or None."""
        try:
            with Session(self._engine) as session:
                row = session.get(ModelVersionRow, (name, version))
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"model version {name}:{version} could not be read") from error
        return None if row is None else _model_version(row)

    def versions(self, name: str) -> list[ModelVersion]:
        """Every registered version of model `name`, oldest first."""
        statement = (
            select(ModelVersionRow)
            .where(col(ModelVersionRow.name) == name)
            .order_by(col(ModelVersionRow.created_at), col(ModelVersionRow.version))
        )
        try:
            with Session(self._engine) as session:
                rows = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"versions of model {name!r} could not be read") from error
        return [_model_version(row) for row in rows]


def _same_contents(stored: ModelVersion, candidate: ModelVersion) -> bool:
    return (
        stored.artifact_digest == candidate.artifact_digest
        and stored.family == candidate.family
        and stored.feature_names == candidate.feature_names
        and stored.params == candidate.params
        and stored.metrics == candidate.metrics
    )


def _model_version(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        artifact_digest=row.artifact_digest,
        family=row.family,
        feature_names=tuple(row.feature_names),
        params=dict(row.params),
        metrics=dict(row.metrics),
        created_at=row.created_at,
    )


def _active_model(row: ModelVersionRow) -> ActiveModel:
    return ActiveModel(
        name=row.name,
        version=row.version,
        artifact_digest=row.artifact_digest,
        feature_names=tuple(row.feature_names),
    )


def _json_document(value: Mapping[str, object], what: str) -> dict[str, Any]:
    # Normalised through JSON so a retried registration compares equal to what the database returns.
    try:
        document: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} cannot be stored as JSON: {error}") from error
    return document
