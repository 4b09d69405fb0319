"""Failure containment: with the audit database cut off, decisions are still answered and accepted; the audit
writer fails its batches without giving anything up, and once the database is back every accepted event reaches
its chain exactly once.

The real PostgreSQL server stays up for everyone else: the writer reaches it through a TCP proxy that the test
closes (refusing and cutting every connection) and reopens. Decisions are made by the real decision service on
the accepted store (moto's DynamoDB, real boto3 clients); its change stream is read as Lambda's event source
reads it, and handed to the real audit writer function, retried from the first record it reports failed.
"""

from __future__ import annotations

import importlib
import time
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from contracts.decision.v1 import DecisionRequest
from embedded.chaos.proxy import TcpProxy
from embedded.emulation.aws import LocalEndpoint
from embedded.emulation.context import LambdaContext
from leaim.adapters.dynamodb_audit import DynamoAcceptedStore, DynamoAuditLog, DynamoDecisions
from leaim.adapters.sql import SqlAuditTrail, create_engine_for, create_schema
from leaim.adapters.sql.rows import EVENTS
from leaim.domain.clock import SystemClock
from leaim.governance.audit.accepted import BUNDLE_KINDS
from leaim.governance.audit.events import InvocationAudit
from leaim.governance.audit.verification import TrailVerifier
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerBoard
from tests.support.accepted import REGION, StreamReader, accepted_table
from tests.support.fakes import PII_KEY, TRACE, World, transaction

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Engine

    from contracts.decision.v1 import DecisionResponse

pytestmark = pytest.mark.postgres

# Lambda's batch size for the writer in template.yaml.
BATCH_SIZE = 1000


@pytest.fixture
def database(postgres_database_url: str) -> Iterator[str]:
    """A database of this test's own on the shared server, dropped after it."""
    name = f"leaim_outage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(postgres_database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(postgres_database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def direct(database: str) -> Iterator[Engine]:
    """The test's own way into the database, around the proxy."""
    engine = create_engine_for(database)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy(database: str) -> Iterator[TcpProxy]:
    url = make_url(database)
    with TcpProxy(str(url.host), int(url.port or 5432)) as running:
        yield running


@pytest.fixture
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Decisions:
    """The decision service on the accepted store: each decision, its worker call and its event in one write."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self.world = World()
        self.world.put_card("card-42", {"avg_amount_30d": 60.0, "tx_count_24h": 3})
        self.log = DynamoAuditLog(table, dynamodb, clock=time.time)
        self.accepted = DynamoDecisions(table, dynamodb)
        self.clock = SystemClock()
        self.service = DecisionService(
            catalog=self.world.catalog,
            features=self.world.features,
            router=self.world.router,
            stops=self.world.stops,
            workers=self.world.worker,
            audit_log=self.log,
            decisions=self.accepted,
            overrides=self.accepted,
            telemetry=self.world.telemetry,
            clock=self.clock,
            breakers=BreakerBoard(failure_threshold=2, reset_s=30.0, monotonic=self.clock.monotonic),
            pii_key=PII_KEY,
            deadline_margin_ms=50,
        )

    def decide(self, request_id: str) -> DecisionResponse:
        audit = InvocationAudit(
            self.log,
            self.clock,
            source="DecisionApiFunction",
            action="decision.create",
            invocation_id=request_id,
            trace_id=TRACE,
        )
        request = DecisionRequest(request_id=request_id, inputs=transaction(transaction_id=request_id))
        return self.service.decide("card_fraud", request, audit, remaining_ms=5_000).response

    def refuse(self, request_id: str) -> None:
        """A request refused before any decision: its invocation's one event, accepted alone."""
        audit = InvocationAudit(
            self.log,
            self.clock,
            source="DecisionApiFunction",
            action="decision.create",
            invocation_id=request_id,
            trace_id=TRACE,
        )
        audit.store("rejected", status_code=422, error="inputs.amount: must be at least 0")


class EventSource:
    """Lambda's DynamoDB Streams event source, as far as the writer sees it: the records its filter lets through
    (new bundles, as template.yaml declares), in batches in stream order, a batch retried from the lowest sequence
    number its answer names."""

    def __init__(self, reader: StreamReader, handler: Any) -> None:
        self._reader = reader
        self._handler = handler
        self._pending: list[dict[str, Any]] = []
        self.failed_batches = 0

    def deliver(self) -> list[str]:
        """One invocation with what the stream holds; the sequence numbers it reported failed."""
        self._pending += [record for record in self._reader.read() if _new_bundle(record)]
        batch = self._pending[:BATCH_SIZE]
        if not batch:
            return []
        answer = self._handler({"Records": batch}, _context())
        failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
        if not failed:
            del self._pending[: len(batch)]
            return []
        self.failed_batches += 1
        lowest = min(failed, key=int)
        start = next(index for index, record in enumerate(batch) if record["dynamodb"]["SequenceNumber"] == lowest)
        del self._pending[:start]
        return failed

    @property
    def pending(self) -> list[str]:
        """The sequence numbers not yet stored."""
        return [record["dynamodb"]["SequenceNumber"] for record in self._pending]


def _new_bundle(record: dict[str, Any]) -> bool:
    kind = record["dynamodb"].get("NewImage", {}).get("kind", {}).get("S")
    return bool(record["eventName"] == "INSERT" and kind in BUNDLE_KINDS)


def _context() -> LambdaContext:
    return LambdaContext(
        function_name="leaim-AuditWriterFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:leaim-AuditWriterFunction",
        memory_limit_in_mb="2048",
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/leaim-AuditWriterFunction",
        log_stream_name="local",
        deadline_monotonic=time.monotonic() + 60,
    )


def chain_counts(engine: Engine) -> dict[str, int]:
    """How many times each event id is in a chain."""
    statement = select(EVENTS.c.event_id, func.count()).group_by(EVENTS.c.event_id)
    with engine.connect() as connection:
        return {event_id: int(count) for event_id, count in connection.execute(statement)}


def accepted_ids(store: DynamoAcceptedStore) -> set[str]:
    return {event_id for bundle in store.bundles() for event_id in bundle.event_ids}


def test_decisions_are_answered_while_the_audit_database_is_cut_off_and_all_reach_the_chain_once_after(
    monkeypatch: pytest.MonkeyPatch, endpoint: LocalEndpoint, proxy: TcpProxy, direct: Engine, database: str
) -> None:
    table, dynamodb = accepted_table(endpoint)
    through_proxy = make_url(database).set(host="127.0.0.1", port=proxy.port)
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "LEAIM",
        "LEAIM_ACCEPTED_TABLE": table,
        "LEAIM_DATABASE_URL": through_proxy.render_as_string(hide_password=False),
    }.items():
        monkeypatch.setenv(name, value)
    from functions.audit_writer import app

    writer = importlib.reload(app)
    decisions = Decisions(table, dynamodb)
    source = EventSource(StreamReader(endpoint, table), writer.lambda_handler)
    accepted = DynamoAcceptedStore(table, dynamodb, clock=time.time)

    before = [decisions.decide(f"before-{index}") for index in range(20)]
    assert source.deliver() == []
    assert set(chain_counts(direct)) >= accepted_ids(accepted)

    proxy.close()
    during = [decisions.decide(f"during-{index}") for index in range(40)]
    for index in range(5):
        decisions.refuse(f"refused-{index}")
    for decision in during:
        found = decisions.accepted.get(decision.decision_id)
        assert found is not None and found.response == decision, "answered and accepted without SQL"
    chained_before = chain_counts(direct)
    for _ in range(3):
        failed = source.deliver()
        assert failed, "the writer cannot store while the database is cut off"
        assert failed == source.pending[: len(failed)], "every record from the first unstored one is retried"
    assert chain_counts(direct) == chained_before, "nothing stored, nothing half-written"
    mid = TrailVerifier({}, grace_s=3600).verify(SqlAuditTrail(direct), None, accepted)
    assert mid.intact and mid.pending_events == 40 * 2 + 5
    cut_off = TrailVerifier({}, grace_s=0).verify(SqlAuditTrail(direct), None, accepted)
    assert not cut_off.intact and cut_off.unchained_events == 40 * 2 + 5

    proxy.open()
    for _ in range(10):
        if not source.deliver() and not source.pending:
            break
    assert source.pending == []
    # An answer lost after its commit makes the stream deliver a batch again: the whole stream, once more.
    replay = EventSource(StreamReader(endpoint, table), writer.lambda_handler)
    assert replay.deliver() == [] and replay.pending == []
    counts = chain_counts(direct)
    accepted_now = accepted_ids(accepted)
    assert len(accepted_now) == (20 + 40) * 2 + 5
    assert accepted_now <= set(counts), "every accepted event reached a chain"
    assert {event_id: count for event_id, count in counts.items() if count != 1} == {}, "none twice"
    report = TrailVerifier({}, grace_s=0).verify(SqlAuditTrail(direct), None, accepted)
    assert report.intact, report.problems
    assert (report.accepted_events, report.pending_events, report.unchained_events, report.set_aside_bundles) == (
        len(accepted_now),
        0,
        0,
        0,
    )
    assert report.decisions == len(before) + len(during)
    assert source.failed_batches >= 3
