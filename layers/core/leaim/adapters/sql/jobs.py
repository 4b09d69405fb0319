"""Training jobs on SQL: created queued, claimed once by the function that runs them, updated as they go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from contracts.model.v1 import TrainingJob
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.tables import TrainingJobRow, utc_now
from leaim.exceptions import ConflictError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from contracts.model.v1 import JobState


class SqlTrainingJobStore:
    """`TrainingJobStore` on SQLite or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, job: TrainingJob) -> TrainingJob:
        """Store a new job; ConflictError when its id is taken or a job not failed already trains its version."""
        try:
            with Session(self._engine) as session, session.begin():
                session.add(TrainingJobRow(**job.model_dump()))
        except IntegrityError as error:
            if self.get(job.job_id) is not None:
                raise ConflictError(f"training job {job.job_id!r} already exists") from error
            raise ConflictError(
                f"version {job.version} of {job.model_name} is already being trained by another job"
            ) from error
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"training job {job.job_id!r} could not be stored") from error
        return job

    def get(self, job_id: str) -> TrainingJob | None:
        """A job, or None."""
        try:
            with Session(self._engine) as session:
                row = session.get(TrainingJobRow, job_id)
                job = None if row is None else job_of(row)
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"training job {job_id!r} could not be read") from error
        return job

    def update(
        self,
        job_id: str,
        *,
        state: JobState | None = None,
        stage: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        reasons: list[str] | None = None,
        version: str | None = None,
    ) -> TrainingJob:
        """Record the given fields of a job's progress and its update time; the others stay as stored.

        Raises NotFoundError for an unknown job, and ValueError (a pydantic ValidationError) when the job
        would no longer satisfy its contract, a progress above 1 for instance; nothing is written then.
        """
        given = {"state": state, "stage": stage, "progress": progress, "message": message, "version": version}
        changes: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
        if reasons is not None:
            changes["reasons"] = list(reasons)
        try:
            with Session(self._engine) as session, session.begin():
                # Locked on PostgreSQL so a concurrent claim or update waits instead of racing this one.
                row = session.get(TrainingJobRow, job_id, with_for_update=True)
                if row is None:
                    raise NotFoundError(f"no training job {job_id!r}")
                changes["updated_at"] = utc_now()
                updated = TrainingJob.model_validate({**job_of(row).model_dump(), **changes})
                for name in changes:
                    setattr(row, name, getattr(updated, name))
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"training job {job_id!r} could not be updated") from error
        return updated

    def claim(self, job_id: str) -> TrainingJob | None:
        """Move a queued job to running and return it, in one conditional write.

        None when the job is not queued (or does not exist): a redelivered queue message finds its job
        already claimed and does not run it twice.
        """
        statement = (
            update(TrainingJobRow)
            .where(col(TrainingJobRow.job_id) == job_id, col(TrainingJobRow.state) == "queued")
            .values(state="running", updated_at=utc_now())
            .execution_options(synchronize_session=False)
        )
        try:
            with Session(self._engine) as session, session.begin():
                if session.exec(statement).rowcount != 1:
                    return None
                claimed = job_of(session.exec(select(TrainingJobRow).where(col(TrainingJobRow.job_id) == job_id)).one())
        except SQLAlchemyError as error:
            raise StoreUnavailableError(f"training job {job_id!r} could not be claimed") from error
        return claimed


def job_of(row: TrainingJobRow) -> TrainingJob:
    """The contract of a job's row."""
    return TrainingJob.model_validate({name: getattr(row, name) for name in TrainingJob.model_fields})
