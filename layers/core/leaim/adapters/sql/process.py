"""`ProcessHistory` on SQL: the traffic policies' change history and the training jobs, read for the process KPIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.jobs import job_of
from leaim.adapters.sql.tables import TrafficChangeRow, TrainingJobRow
from leaim.governance.oversight.ports import TrafficChangeKind, TrafficChangeRecord

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from sqlalchemy import ColumnElement, Engine
    from sqlalchemy.orm import Mapped
    from sqlmodel.sql.expression import SelectOfScalar

    from contracts.model.v1 import TrainingJob


class SqlProcessHistory:
    """The history the registry writes with every traffic change, and the training jobs of the job store."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def traffic_changes(self, use_case: str, since: datetime, until: datetime) -> list[TrafficChangeRecord]:
        """The changes of the use case's traffic policy in [since, until), oldest first."""
        statement = (
            select(TrafficChangeRow)
            .where(*_window(col(TrafficChangeRow.use_case), col(TrafficChangeRow.changed_at), use_case, since, until))
            .order_by(col(TrafficChangeRow.revision))
        )
        try:
            with Session(self._engine) as session:
                rows = session.exec(statement).all()
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"traffic history of use case {use_case!r} could not be read") from error
        return [
            TrafficChangeRecord(
                use_case=row.use_case,
                revision=row.revision,
                change=cast("TrafficChangeKind", row.change),
                model_name=row.model_name,
                version=row.version,
                champion=row.champion_version,
                challenger=row.challenger_version,
                at=row.changed_at,
                by=row.changed_by,
            )
            for row in rows
        ]

    def training_jobs(self, use_case: str, since: datetime, until: datetime) -> list[TrainingJob]:
        """The use case's training jobs created in [since, until), oldest first."""
        statement = (
            select(TrainingJobRow)
            .where(*_window(col(TrainingJobRow.use_case), col(TrainingJobRow.created_at), use_case, since, until))
            .order_by(col(TrainingJobRow.created_at))
        )
        return self._jobs(statement, f"training jobs of use case {use_case!r}")

    def jobs_of(self, model_name: str, versions: Collection[str]) -> dict[str, TrainingJob]:
        """The training job that produced each of `versions` of a model, where one did."""
        if not versions:
            return {}
        statement = (
            select(TrainingJobRow)
            .where(col(TrainingJobRow.model_name) == model_name)
            .where(col(TrainingJobRow.version).in_(list(versions)))
            .where(col(TrainingJobRow.state) == "succeeded")
        )
        return {job.version: job for job in self._jobs(statement, f"training jobs of model {model_name!r}")}

    def _jobs(self, statement: SelectOfScalar[TrainingJobRow], what: str) -> list[TrainingJob]:
        try:
            with Session(self._engine) as session:
                return [job_of(row) for row in session.exec(statement)]
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"{what} could not be read") from error


def _window(
    owner: Mapped[str], at: Mapped[datetime], use_case: str, since: datetime, until: datetime
) -> tuple[ColumnElement[bool], ...]:
    """The clauses of a use case's rows whose time `at` lies in [since, until)."""
    return (owner == use_case, at >= since, at < until)
