"""The audit writer's side of the SQL store, on SQLite and PostgreSQL: accepted bundles into one writer's chain,
exactly once by event id, as `SqlAuditLog` would have stored them, and verified as such."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from contracts.decision.v1 import Override
from leaim.adapters.dynamodb_audit import bundle_item
from leaim.adapters.sql import SqlAuditLog, SqlAuditTrail, create_engine_for, create_schema
from leaim.adapters.sql.exceptions import StoreUnavailableError
from leaim.adapters.sql.intake import INTAKE, SqlAuditIntake, SqlIntakeHistory
from leaim.adapters.sql.rows import DECISIONS, EVENTS, OVERRIDES
from leaim.governance.audit.chain import DECISION_SHA256, decision_sha256
from leaim.governance.audit.exceptions import BundleRefusedError
from leaim.governance.audit.records import decision_values, override_values
from leaim.governance.audit.verification import TrailVerifier
from tests.support.accepted import bundle, decision_item, events_item
from tests.support.audit import BASE_TIME, make_decision, make_event

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

    from contracts.trail.v1 import VerifyReport
    from leaim.governance.audit.intake import AuditIntake, IntakeHistory

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(2100, 1, 1, tzinfo=UTC)


def verify(engine: Engine) -> VerifyReport:
    return TrailVerifier({}).verify(SqlAuditTrail(engine), None)


def chained(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(EVENTS.c.event_id).order_by(EVENTS.c.chain_seq)).scalars())


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_the_adapters_implement_the_ports(engine: Engine) -> None:
    intake: AuditIntake = SqlAuditIntake(engine, clock=time.time)
    history: IntakeHistory = SqlIntakeHistory(engine)
    assert intake.chain_id.startswith("w-")
    assert history.lag(EPOCH, END).batches == 0


def test_bundles_are_chained_with_their_rows_and_verify(engine: Engine) -> None:
    intake = SqlAuditIntake(engine, clock=time.time)
    decisions = [bundle(decision_item(f"req-{index}", related=2)) for index in range(5)]
    plain = bundle(events_item([make_event(details={"rows": [1, 2.5, "x"], "nested": {"a": None}})]))
    own = make_event(source="AuditWriterFunction", action="audit.intake")
    receipt = intake.store([*decisions, plain], own)
    assert (receipt.bundles, receipt.events, receipt.duplicates) == (6, 16, 0)
    assert chained(engine) == [event_id for b in (*decisions, plain) for event_id in b.event_ids] + [own.event_id]
    report = verify(engine)
    assert report.intact, report.problems
    assert (report.chains, report.events, report.decisions) == (1, 17, 5)


def test_rows_are_stored_as_the_audit_log_stores_them(engine: Engine) -> None:
    """A decision chained by the writer reads back as the same decision written by `SqlAuditLog` directly."""
    item = decision_item("req-7")
    intake = SqlAuditIntake(engine, clock=time.time)
    intake.store([bundle(item)])
    row = json.loads(item["row"]["S"])
    with engine.connect() as connection:
        stored = connection.execute(select(DECISIONS)).one()._mapping
    assert stored["response"] == row["response"]
    assert stored["inputs"] == {"amount": 12.5, "country": "FR"}
    assert stored["features"] == {"amount_log": 2.5}
    assert stored["created_at"] == datetime.fromisoformat(row["created_at"])
    assert stored["created_at"].tzinfo is not None


def test_a_decision_without_features_stores_sql_null(engine: Engine) -> None:
    made = make_decision(request_id="req-nofeatures")
    log = SqlAuditLog(engine)
    row = decision_values(made, {"amount": 1.0}, None, BASE_TIME)
    event = make_event(decision_id=made.decision_id, details={DECISION_SHA256: decision_sha256(row)})
    SqlAuditIntake(engine, clock=time.time).store([bundle(bundle_item("decision#x", "decision", [event], row, 1.0))])
    with engine.connect() as connection:
        assert connection.execute(select(DECISIONS.c.decision_id).where(DECISIONS.c.features.is_(None))).all()
    assert verify(engine).intact
    assert log.count() == 1


def test_a_fallback_decision_without_score_model_or_features_is_chained(engine: Engine) -> None:
    made = make_decision(request_id="req-fallback", score=None, model=None, fallback=True, outcome="review")
    row = decision_values(made, {"amount": 1.0}, None, BASE_TIME)
    event = make_event(decision_id=made.decision_id, details={DECISION_SHA256: decision_sha256(row)})

    receipt = SqlAuditIntake(engine, clock=time.time).store(
        [bundle(bundle_item(f"decision#{made.decision_id}", "decision", [event], row, 1.0))]
    )

    assert (receipt.bundles, receipt.events) == (1, 1)
    with engine.connect() as connection:
        stored = connection.execute(select(DECISIONS.c.score, DECISIONS.c.model_name, DECISIONS.c.fallback)).one()
    assert tuple(stored) == (None, None, True)
    assert verify(engine).intact


def test_each_event_is_chained_once_however_often_it_is_delivered(engine: Engine) -> None:
    intake = SqlAuditIntake(engine, clock=time.time)
    batch = [bundle(decision_item(f"req-{index}")) for index in range(4)]
    intake.store(batch[:3])
    again = intake.store(batch)
    assert (again.bundles, again.events, again.duplicates, again.lag_s is not None) == (1, 2, 6, True)
    replay = SqlAuditIntake(engine, clock=time.time).store(batch)
    assert (replay.bundles, replay.events, replay.duplicates, replay.lag_s) == (0, 0, 8, None)
    assert sorted(chained(engine)) == sorted(event_id for b in batch for event_id in b.event_ids)
    assert count(engine, DECISIONS) == 4
    assert verify(engine).intact


def test_an_override_row_already_stored_is_kept_and_its_event_chained(engine: Engine) -> None:
    decision = make_decision()
    first = Override(
        review_id=decision.decision_id,
        original_outcome="review",
        outcome="approved",
        justification="documents checked",
        reviewer="ana",
        reviewed_at=BASE_TIME,
        event_id="ev-first",
    )
    SqlAuditLog(engine).record_override(first, decision.use_case, make_event(event_id="ev-first"))
    second = first.model_copy(update={"outcome": "declined", "event_id": "ev-second"})
    item = bundle_item(
        f"override#{decision.decision_id}",
        "override",
        [make_event(event_id="ev-second")],
        override_values(second, decision.use_case),
        time.time(),
    )
    SqlAuditIntake(engine, clock=time.time).store([bundle(json.loads(json.dumps(item, default=str)))])
    with engine.connect() as connection:
        assert connection.execute(select(OVERRIDES.c.outcome, OVERRIDES.c.event_id)).one() == ("approved", "ev-first")
    assert "ev-second" in chained(engine)


def test_two_writers_given_the_same_bundles_at_once_chain_each_event_once(engine: Engine) -> None:
    batch = [bundle(decision_item(f"req-{index}")) for index in range(50)]
    writers = [SqlAuditIntake(engine, clock=time.time) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(writer: SqlAuditIntake) -> None:
        start.wait()
        try:
            writer.store(batch)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(writer,)) for writer in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(chained(engine)) == sorted(event_id for b in batch for event_id in b.event_ids)
    assert verify(engine).intact


def test_a_bundle_whose_events_do_not_validate_is_refused_by_name_before_the_store_is_asked(engine: Engine) -> None:
    item = events_item()
    events = json.loads(item["events"]["S"])
    events[0]["outcome"] = "maybe"
    item["events"]["S"] = json.dumps(events)
    good = bundle(events_item())
    with pytest.raises(BundleRefusedError, match=r"is not an audit event: outcome") as refused:
        SqlAuditIntake(engine, clock=time.time).store([good, bundle(item)])
    assert refused.value.pk == item["pk"]["S"]
    assert chained(engine) == []


def test_a_row_without_its_columns_is_refused_by_name(engine: Engine) -> None:
    item = decision_item()
    row = json.loads(item["row"]["S"])
    del row["inputs"]
    row["colour"] = "red"
    item["row"]["S"] = json.dumps(row)
    with pytest.raises(BundleRefusedError, match=r"unknown columns \['colour'\] and no columns \['inputs'\]"):
        SqlAuditIntake(engine, clock=time.time).store([bundle(item)])
    row = json.loads(decision_item()["row"]["S"]) | {"created_at": "yesterday"}
    item["row"]["S"] = json.dumps(row)
    with pytest.raises(BundleRefusedError, match=r"decisions.created_at .* is not an ISO 8601 time: 'yesterday'"):
        SqlAuditIntake(engine, clock=time.time).store([bundle(item)])


def test_the_store_refusing_data_keeps_nothing_and_the_chain_intact(engine: Engine) -> None:
    intake = SqlAuditIntake(engine, clock=time.time)
    intake.store([bundle(decision_item("req-1"))])
    # Another decision for the same request id: the store's unique key refuses it.
    clash = bundle(decision_item("req-1"))
    others = [bundle(decision_item(f"req-{index}")) for index in range(2, 5)]
    with pytest.raises(BundleRefusedError, match="the audit store refused it") as batch:
        intake.store([*others, clash])
    assert batch.value.pk is None, "a refused batch names no bundle: the writer halves it"
    with pytest.raises(BundleRefusedError) as single:
        intake.store([clash])
    assert single.value.pk == clash.pk
    assert len(chained(engine)) == 2
    intake.store(others)
    assert len(chained(engine)) == 8
    report = verify(engine)
    assert report.intact and report.chains == 1


def test_each_transaction_records_its_lag(engine: Engine) -> None:
    now = [2_000_000_000.0]
    intake = SqlAuditIntake(engine, clock=lambda: now[0])
    for waited in (0.5, 1.0, 4.0):
        intake.store([bundle(decision_item(f"req-{waited}", accepted_at=now[0] - waited))])
    intake.store([bundle(events_item(accepted_at=now[0] - 1.0)), bundle(events_item(accepted_at=now[0] - 9.0))])
    intake.store([bundle(events_item(accepted_at=now[0]))])
    with engine.connect() as connection:
        rows = connection.execute(select(INTAKE).order_by(INTAKE.c.lag_s)).all()
    assert [row.lag_s for row in rows] == [0.0, 0.5, 1.0, 4.0, 9.0]
    assert [row.events for row in rows] == [1, 2, 2, 2, 2]
    assert all(row.chain_id == intake.chain_id for row in rows)
    committed = datetime.fromtimestamp(now[0], UTC)
    lag = SqlIntakeHistory(engine).lag(committed - timedelta(seconds=1), committed + timedelta(seconds=1))
    assert (lag.batches, lag.events, lag.lag_p50_s, lag.lag_p99_s, lag.lag_max_s) == (5, 9, 1.0, 9.0, 9.0)
    assert SqlIntakeHistory(engine).lag(committed + timedelta(seconds=1), END).batches == 0


@pytest.fixture
def postgres_engine(postgres_database_url: str) -> Iterator[Engine]:
    """A fresh database of its own on the PostgreSQL server, for what only PostgreSQL refuses."""
    name = f"leaim_intake_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = create_engine_for(make_url(postgres_database_url).set(database=name).render_as_string(False))
    create_schema(engine)
    yield engine
    engine.dispose()
    with psycopg.connect(postgres_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
def test_postgres_refuses_text_it_cannot_hold(postgres_engine: Engine) -> None:
    intake = SqlAuditIntake(postgres_engine, clock=time.time)
    for event in (make_event(principal="a\x00b"), make_event(details={"note": "a\x00b"})):
        with pytest.raises(BundleRefusedError, match="the audit store refused it"):
            intake.store([bundle(events_item([event]))])
    intake.store([bundle(events_item())])
    report = verify(postgres_engine)
    assert report.intact and report.events == 1


@pytest.mark.postgres
def test_a_store_that_does_not_answer_is_unavailable_not_refusing() -> None:
    engine = create_engine_for("postgresql://postgres@127.0.0.1:9/test")
    with pytest.raises(StoreUnavailableError, match="accepted bundle"):
        SqlAuditIntake(engine, clock=time.time).store([bundle(events_item())])
