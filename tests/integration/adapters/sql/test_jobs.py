"""Training jobs, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from contracts.model.v1 import TrainingJob
from leaim.adapters.sql import SqlTrainingJobStore
from leaim.adapters.sql.tables import TrainingJobRow
from leaim.exceptions import ConflictError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine

CREATED = datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)


def make_job(job_id: str = "job-1", **overrides: Any) -> TrainingJob:
    values: dict[str, Any] = {
        "job_id": job_id,
        "model_name": "credit",
        "use_case": "credit_limit",
        "version": "v3",
        "snapshot_id": "snap-1",
        "family": "gradient_boosted_trees",
        "params": {"n_estimators": 100, "learning_rate": 0.1, "subsample": 1.0, "max_depth": 3},
        "seed": 7,
        "deploy": "shadow",
        "trigger": "drift",
        "reason": "score drift above 0.2",
        "requested_by": "svc-ml",
        "state": "queued",
        "stage": "queued",
        "progress": 0.0,
        "created_at": CREATED,
        "updated_at": CREATED,
    }
    values.update(overrides)
    return TrainingJob(**values)


def test_every_training_job_field_has_a_column() -> None:
    assert set(TrainingJob.model_fields) == set(TrainingJobRow.model_fields)


def test_create_and_read_back_exactly(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    job = make_job(message="waiting", reasons=["first reason"])

    assert store.create(job) == job
    stored = store.get("job-1")

    assert stored == job
    assert stored is not None
    assert stored.params == {"n_estimators": 100, "learning_rate": 0.1, "subsample": 1.0, "max_depth": 3}
    assert isinstance(stored.params["n_estimators"], int)
    assert isinstance(stored.params["subsample"], float)
    assert store.get("job-2") is None


def test_a_job_id_is_taken_once(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    first = store.create(make_job())

    with pytest.raises(ConflictError, match="training job 'job-1' already exists"):
        store.create(make_job(version="v4"))

    assert store.get("job-1") == first


def test_update_changes_only_what_it_is_given(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    store.create(make_job())
    before = datetime.now(UTC)

    running = store.update("job-1", stage="training", progress=0.4, message="fitting")
    done = store.update("job-1", state="rejected", stage="done", progress=1.0, reasons=["auc 0.61 < 0.7"], version="v5")

    assert (running.state, running.stage, running.progress, running.message) == ("queued", "training", 0.4, "fitting")
    assert before <= running.updated_at <= done.updated_at <= datetime.now(UTC)
    assert done == make_job(
        state="rejected",
        stage="done",
        progress=1.0,
        message="fitting",
        reasons=["auc 0.61 < 0.7"],
        version="v5",
        updated_at=done.updated_at,
    )
    assert store.get("job-1") == done


def test_update_of_an_unknown_job_or_to_an_invalid_state_fails(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    job = store.create(make_job())

    with pytest.raises(NotFoundError, match="no training job 'job-9'"):
        store.update("job-9", stage="training")
    with pytest.raises(ValidationError):
        store.update("job-1", stage="training", progress=1.5)
    unknown_state: Any = "exploded"
    with pytest.raises(ValidationError):
        store.update("job-1", state=unknown_state)

    assert store.get("job-1") == job


def test_claim_moves_a_queued_job_to_running_once(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    store.create(make_job())

    claimed = store.claim("job-1")

    assert claimed is not None
    assert (claimed.state, claimed.stage) == ("running", "queued")
    assert claimed.updated_at > CREATED
    assert store.get("job-1") == claimed
    assert store.claim("job-1") is None
    assert store.claim("job-9") is None
    store.update("job-1", state="failed", stage="done")
    assert store.claim("job-1") is None


def claim_after(start: threading.Barrier, store: SqlTrainingJobStore, job_id: str) -> TrainingJob | None:
    start.wait()
    return store.claim(job_id)


def test_concurrent_claims_run_a_job_once(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    racers = 8
    for round_ in range(5):
        store.create(make_job(f"job-{round_}", version=f"v{round_}"))
        start = threading.Barrier(racers)
        with ThreadPoolExecutor(max_workers=racers) as pool:
            outcomes = list(pool.map(claim_after, [start] * racers, [store] * racers, [f"job-{round_}"] * racers))

        claimed = [outcome for outcome in outcomes if outcome is not None]
        assert len(claimed) == 1
        assert claimed[0].state == "running"
        assert store.get(f"job-{round_}") == claimed[0]


def test_a_version_is_reserved_by_its_job_until_that_job_fails(engine: Engine) -> None:
    store = SqlTrainingJobStore(engine)
    store.create(make_job("job-1", version="v7"))
    with pytest.raises(ConflictError, match="version v7 of credit is already being trained"):
        store.create(make_job("job-2", version="v7"))
    with pytest.raises(ConflictError, match="training job 'job-1' already exists"):
        store.create(make_job("job-1", version="v8"))
    store.update("job-1", state="failed", stage="failed", message="worker timed out")
    assert store.create(make_job("job-2", version="v7")).job_id == "job-2"
