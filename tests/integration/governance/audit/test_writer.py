"""The audit writer function: the accepted store's change stream (moto's DynamoDB Streams, real boto3 clients)
into the SQL hash chains (SQLite and PostgreSQL), and `leaim audit verify` reconciling the two."""

from __future__ import annotations

import importlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from contracts.decision.v1 import Override
from contracts.governance.v1 import RecordedOutcome
from embedded.cli import main
from embedded.emulation.aws import LocalEndpoint
from embedded.emulation.context import LambdaContext
from leaim.adapters.dynamodb_audit import DynamoAcceptedStore, DynamoAuditLog
from leaim.adapters.sql import SqlAuditLog, SqlAuditTrail, create_engine_for, create_schema
from leaim.adapters.sql.intake import INTAKE, SqlAuditIntake
from leaim.adapters.sql.rows import EVENTS
from leaim.bootstrap.writer import stream_records
from leaim.governance.audit.intake import INTAKE_ACTION
from leaim.governance.audit.verification import TrailVerifier, summary
from leaim.governance.ports import AuditQuery
from tests.support.accepted import (
    REGION,
    StreamReader,
    accepted_table,
    bundle,
    decision_item,
    events_item,
    stream_event,
)
from tests.support.audit import decision_event, make_decision, make_event

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import Engine

    from contracts.trail.v1 import VerifyReport

SOURCE = "AuditWriterFunction"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def table(endpoint: LocalEndpoint) -> tuple[str, Any]:
    return accepted_table(endpoint)


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch, endpoint: LocalEndpoint, table: tuple[str, Any], database_url: str) -> Any:
    """The function's handler in a fresh container, its boto3 clients reaching moto's server."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "LEAIM",
        "LEAIM_ACCEPTED_TABLE": table[0],
        "LEAIM_DATABASE_URL": database_url,
    }.items():
        monkeypatch.setenv(name, value)
    from functions.audit_writer import app

    return importlib.reload(app)


def context() -> LambdaContext:
    return LambdaContext(
        function_name="leaim-AuditWriterFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:leaim-AuditWriterFunction",
        memory_limit_in_mb="1024",
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/leaim-AuditWriterFunction",
        log_stream_name="local",
        deadline_monotonic=time.monotonic() + 60,
    )


def accepted_events(log: DynamoAuditLog) -> list[str]:
    """Accept what the platform's functions accept: decisions with their worker calls, an override, an outcome,
    and plain events; the ids of every event accepted."""
    ids = []
    for index in range(3):
        decision = make_decision(request_id=f"req-{index}")
        event = decision_event(decision)
        call = make_event(action="worker.inference", decision_id=decision.decision_id)
        log.record_decision(decision, {"amount": 10.0 + index}, event, [call], features={"amount_log": 2.3})
        ids += [event.event_id, call.event_id]
    override = Override(
        review_id=decision.decision_id,
        original_outcome="review",
        outcome="approved",
        justification="documents checked",
        reviewer="ana",
        reviewed_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        event_id=uuid.uuid4().hex,
    )
    reviewed = make_event(event_id=override.event_id, action="review.override", decision_id=decision.decision_id)
    log.record_override(override, decision.use_case, reviewed)
    outcome = RecordedOutcome(
        decision_id=decision.decision_id,
        use_case=decision.use_case,
        label=True,
        observed_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        source="chargebacks",
        reported_by="svc-chargebacks",
        recorded_at=datetime(2026, 3, 2, 9, 5, tzinfo=UTC),
        model=decision.model,
        score=decision.score,
        outcome=decision.outcome,
    )
    labelled = make_event(action="decision.outcome", decision_id=decision.decision_id)
    log.record_outcome(outcome, labelled)
    plain = [make_event(action="ingest.records") for _ in range(4)]
    log.append_many(plain)
    return [*ids, reviewed.event_id, labelled.event_id, *(event.event_id for event in plain)]


def chained(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(EVENTS.c.event_id)).scalars())


def reconcile(engine: Engine, table: tuple[str, Any], *, grace_s: float = 0.0) -> VerifyReport:
    accepted = DynamoAcceptedStore(table[0], table[1], clock=time.time)
    return TrailVerifier({}, grace_s=grace_s).verify(SqlAuditTrail(engine), None, accepted)


def test_every_accepted_event_reaches_the_chain_once_and_verify_reconciles(
    writer: Any, endpoint: LocalEndpoint, table: tuple[str, Any], store: Engine
) -> None:
    ids = accepted_events(DynamoAuditLog(table[0], table[1], clock=time.time))
    records = StreamReader(endpoint, table[0]).read()
    event = {"Records": records}

    answer = writer.lambda_handler(event, context())
    again = writer.lambda_handler(event, context())

    assert answer == again == {"batchItemFailures": []}
    stored = chained(store)
    assert sorted(event_id for event_id in stored if event_id in ids) == sorted(ids)
    assert len(stored) == len(set(stored)) == len(ids) + 2, "each accepted event once, and one event per invocation"
    runs = SqlAuditLog(store).events(AuditQuery(source=SOURCE))
    assert [(run.action, run.outcome, run.details["records"]) for run in runs] == [(INTAKE_ACTION, "success", 6)] * 2
    report = reconcile(store, table)
    assert report.intact, report.problems
    assert (report.accepted_events, report.pending_events, report.unchained_events, report.set_aside_bundles) == (
        len(ids),
        0,
        0,
        0,
    )
    assert report.decisions == 3
    assert "accepted store: 12 events, 0 pending" in summary(report)
    with store.connect() as connection:
        batches = connection.execute(select(func.count()).select_from(INTAKE)).scalar_one()
    assert batches == 1, "a delivery that chains nothing new records no lag"


def test_a_poison_is_set_aside_with_its_reason_logged_and_named_by_verify(
    writer: Any,
    endpoint: LocalEndpoint,
    table: tuple[str, Any],
    store: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, dynamodb = table
    good = decision_item("req-good")
    broken = events_item()
    documents = json.loads(broken["events"]["S"])
    documents[0]["duration_ms"] = "slow"
    broken["events"]["S"] = json.dumps(documents)
    unreadable = events_item()
    unreadable["events"]["S"] = "not json"
    for item in (good, broken, unreadable):
        dynamodb.put_item(TableName=name, Item=item)

    answer = writer.lambda_handler({"Records": StreamReader(endpoint, name).read()}, context())

    assert answer == {"batchItemFailures": []}, "a poison is never retried"
    assert set(chained(store)) >= set(bundle(good).event_ids)
    reasons = {
        item["pk"]["S"]: item["set_aside"]["S"]
        for item in dynamodb.scan(TableName=name)["Items"]
        if "set_aside" in item
    }
    assert set(reasons) == {broken["pk"]["S"], unreadable["pk"]["S"]}
    assert "duration_ms: Input should be a valid number" in reasons[broken["pk"]["S"]]
    assert "does not hold JSON" in reasons[unreadable["pk"]["S"]]
    logged = [record for record in caplog.records if record.getMessage() == "bundle set aside"]
    assert {record.pk: record.reason for record in logged} == reasons
    assert {record.levelname for record in logged} == {"ERROR"}
    report = reconcile(store, table)
    assert not report.intact and report.set_aside_bundles == 2
    assert {problem.kind for problem in report.problems} == {"set_aside"}
    assert any(
        problem.message.startswith(f"accepted bundle {broken['pk']['S']} (events) was set aside by the audit writer")
        for problem in report.problems
    )


def test_an_accepted_event_that_never_reached_a_chain_is_a_break_unless_it_is_recent(
    table: tuple[str, Any], store: Engine
) -> None:
    name, dynamodb = table
    chained_item, old, recent = decision_item("req-1"), decision_item("req-2"), events_item()
    old["accepted_at"] = {"N": repr(time.time() - 3600)}
    for item in (chained_item, old, recent):
        dynamodb.put_item(TableName=name, Item=item)
    SqlAuditIntake(store, clock=time.time).store([bundle(chained_item)])

    report = reconcile(store, table, grace_s=600)

    missing = bundle(old)
    assert not report.intact
    assert (report.accepted_events, report.pending_events, report.unchained_events) == (5, 1, 2)
    assert [(problem.kind, problem.event_id) for problem in report.problems] == [
        ("unchained", event_id) for event_id in missing.event_ids
    ]
    first = report.problems[0]
    assert first.message == f"accepted event {missing.event_ids[0]} (decision, {missing.pk}) is in no chain"
    assert first.decision_id == missing.pk.removeprefix("decision#")
    assert "accepted store: 5 events, 1 pending (accepted within the grace window), 2 in no chain" in summary(report)


def test_stream_records_keep_new_bundles_and_name_what_does_not_parse() -> None:
    good, broken = events_item(), events_item()
    del broken["accepted_at"]
    request = {"pk": {"S": "request#credit_limit#r-1"}, "kind": {"S": "request"}, "decision_id": {"S": "d"}}
    event = stream_event([good, request, broken])
    modified = stream_event([good], first_sequence=900)["Records"][0] | {"eventName": "MODIFY"}
    event["Records"].append(modified)

    records = stream_records(event)

    assert [(record.sequence_number, record.pk) for record in records] == [
        ("100", good["pk"]["S"]),
        ("102", broken["pk"]["S"]),
    ]
    assert records[0].bundle == bundle(good)
    assert records[1].bundle is None
    assert records[1].unreadable == f"item {broken['pk']['S']!r} has no accepted_at time"


def test_the_verify_command_reconciles_the_accepted_store_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    endpoint: LocalEndpoint,
    table: tuple[str, Any],
    store: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    item = events_item(accepted_at=time.time() - 120)
    table[1].put_item(TableName=table[0], Item=item)
    verify = ["--state-dir", str(tmp_path), "audit", "verify", "--database-url", database_url, "--no-archive"]
    accepted = ["--accepted-table", table[0], "--endpoint-url", endpoint.url]

    pending = leaim(capsys, *verify, *accepted)
    broken = leaim(capsys, *verify, *accepted, "--grace", "60")
    unreconciled = leaim(capsys, *verify, *accepted, "--no-accepted")

    assert pending[0] == 0
    assert pending[1].endswith(
        "; accepted store: 1 event, 1 pending (accepted within the grace window), 0 in no chain, 0 bundles set aside\n"
    )
    assert broken[0] == 1
    event_id = bundle(item).event_ids[0]
    assert broken[1].startswith(
        f"audit trail broken: unchained: accepted event {event_id} (events, {item['pk']['S']}) is in no chain"
    )
    assert unreconciled[0] == 0 and "accepted store" not in unreconciled[1]


def leaim(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    """Run the `leaim` command; its exit status and what it printed."""
    with pytest.raises(SystemExit) as exited:
        main(list(arguments))
    return int(exited.value.code or 0), capsys.readouterr().out
