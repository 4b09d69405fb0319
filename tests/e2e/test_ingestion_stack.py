"""Ingestion end to end on the embedded default: the real template, handlers, moto, pollers and SQLite."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from contracts.decision.v1 import DecisionRequest
from contracts.inference.v1 import Contribution, InferenceResult, RowScore
from embedded.clients.http import Sent, send
from embedded.world import LocalWorld, WorldOptions
from leaim.adapters.dynamodb import DynamoFeatureStore
from leaim.adapters.sql import SqlAuditLog, SqlDecisionStore
from leaim.adapters.sql.oversight import SqlOversight
from leaim.adapters.sqs import REASON_ATTRIBUTE
from leaim.data.parquet import decode
from leaim.data.privacy import entity_id
from leaim.data.records import feature_column
from leaim.domain.clock import SystemClock
from leaim.exceptions import SnapshotIntegrityError
from leaim.governance.access import openapi
from leaim.governance.access.headers import SECURITY_HEADERS
from leaim.governance.audit.events import InvocationAudit
from leaim.governance.ports import AuditQuery
from leaim.orchestration.decisions import DecisionService
from leaim.serving.breaker import BreakerBoard
from leaim.serving.ports import ActiveModel, TrafficPlan
from tests.e2e.ingestion import (
    DATASET,
    client,
    ledger,
    message,
    objects,
    put_on_stream,
    quarantined,
    records,
    stored_rows,
    wait_for,
)
from tests.support.fakes import MemoryStops, StaticTelemetry

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message

    from contracts.inference.v1 import InferenceRequest
    from contracts.training.v2 import TrainingRequest, TrainingResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    with LocalWorld(
        WorldOptions(state_dir=tmp_path_factory.mktemp("ingest"), worker_processes=1, stack_name="e2e-ingest")
    ) as running:
        yield running


def ingest(world: LocalWorld, batch: list[Any], version: str = "v1", role: str = "data_producer") -> dict[str, Any]:
    return world.call("POST", f"/v1/ingest/{DATASET}", role, {"contract_version": version, "records": batch})


def broken(record: dict[str, Any], kind: int) -> dict[str, Any]:
    """One of four kinds of bad record, each with one offending field."""
    bad = dict(record)
    if kind == 0:
        del bad["amount"]
    elif kind == 1:
        bad["amount"] = -5
    elif kind == 2:
        bad["merchant_category"] = "casino"
    else:
        bad["event_time"] = "2026-11-01T10:00:00"
    return bad


OFFENDING = {0: "record.amount", 1: "record.amount", 2: "record.merchant_category", 3: "record.event_time"}


def test_http_batch_of_5000_stores_the_good_records_and_quarantines_exactly_the_bad_ones(world: LocalWorld) -> None:
    # Half the API's limit: on moto, sharing two cores with the whole stack, ingestion stores a few hundred
    # records a second, and a request must end inside the gateway's 29 s.
    batch: list[Any] = records(world, 5_000, seed=11)
    bad_positions = set(range(7, 5_000, 33))
    for position in bad_positions:
        batch[position] = broken(batch[position], position % 4)
    report = ingest(world, batch)
    assert report["received"] == 5_000
    assert report["quarantined"] == len(bad_positions)
    assert report["stored"] == 5_000 - len(bad_positions) and report["duplicates"] == 0
    assert report["received"] == report["stored"] + report["quarantined"]
    assert {entry["origin"] for entry in report["quarantine"]} == {f"records[{p}]" for p in bad_positions}
    for entry in report["quarantine"]:
        position = int(entry["origin"][len("records[") : -1])
        assert OFFENDING[position % 4] in {f["field"] for f in entry["fields"]}, entry
        assert OFFENDING[position % 4] in entry["reason"]
    listed = {item["origin"]: item for item in quarantined(world) if item["origin"].startswith("records[")}
    assert set(listed) >= {f"records[{p}]" for p in bad_positions}
    assert all(item["payload"]["card_id"] == "***" for item in listed.values())
    events = world.audit_log.events(AuditQuery(trace_id=report["trace_id"]))
    assert [(e.source, e.action, e.outcome) for e in events] == [("IngestApiFunction", "ingest.records", "success")]
    assert events[0].details["stored"] == report["stored"] and events[0].details["quarantined"] == len(bad_positions)


def test_a_batch_delivered_twice_is_stored_once(world: LocalWorld) -> None:
    batch = records(world, 300, seed=12)
    first = ingest(world, batch)
    again = ingest(world, batch)
    assert (first["stored"], first["duplicates"]) == (300, 0)
    assert (again["stored"], again["duplicates"], again["quarantined"]) == (300, 300, 0)
    ids = [r["transaction_id"] for r in batch]
    assert len(ledger(world).lookup(DATASET, ids)) == 300
    rows = stored_rows(world)
    assert all(rid in rows for rid in ids)


def test_a_record_id_sent_again_with_other_content_is_quarantined_as_a_conflict(world: LocalWorld) -> None:
    record = records(world, 1, seed=13)[0]
    ingest(world, [record])
    changed = {**record, "amount": record["amount"] + 1}
    report = ingest(world, [changed])
    assert report["quarantined"] == 1 and "already stored with other content" in report["quarantine"][0]["reason"]
    assert stored_rows(world)[record["transaction_id"]]["amount"] == record["amount"]


def test_unknown_contract_version_is_quarantined_then_replayed_once_fixed(world: LocalWorld) -> None:
    batch = records(world, 5, seed=14)
    report = ingest(world, batch, version="v9")
    assert report["quarantined"] == 5
    assert all("unknown contract version 'v9'" in entry["reason"] for entry in report["quarantine"])
    ids = [entry["quarantine_id"] for entry in report["quarantine"]]
    replay = world.call(
        "POST",
        f"/v1/ingest/{DATASET}/quarantine/replay",
        "data_steward",
        {"quarantine_ids": ids, "contract_version": "v1"},
    )
    assert (replay["replayed"], replay["stored"], replay["still_quarantined"]) == (5, 5, 0)
    left = {item["quarantine_id"] for item in quarantined(world)}
    assert not left & set(ids)
    assert all(r["transaction_id"] in stored_rows(world) for r in batch)


def test_v1_and_v2_records_are_both_accepted_during_migration(world: LocalWorld) -> None:
    old, new = records(world, 2, seed=15)
    new = {**new, "channel": "ecommerce", "device_id": "device-secret-42"}
    assert ingest(world, [old])["stored"] == 1
    assert ingest(world, [new], version="v2")["stored"] == 1
    rows = stored_rows(world)
    assert rows[old["transaction_id"]]["_contract_version"] == "v1" and rows[old["transaction_id"]]["channel"] is None
    assert rows[new["transaction_id"]]["channel"] == "ecommerce"
    assert str(rows[new["transaction_id"]]["device_id"]).startswith("tok_")
    assert ingest(world, [{**old, "transaction_id": "v1-with-v2-field", "channel": "pos"}])["quarantined"] == 1


@pytest.mark.parametrize(
    ("path", "role", "body", "status", "field"),
    [
        (f"/v1/ingest/{DATASET}", None, b"{}", 401, None),
        (f"/v1/ingest/{DATASET}", "decision_client", b"{}", 403, None),
        ("/v1/ingest/payments", "data_producer", b'{"contract_version": "v1", "records": [{}]}', 404, None),
        (f"/v1/ingest/{DATASET}", "data_producer", b"{not json", 400, "body"),
        (f"/v1/ingest/{DATASET}", "data_producer", b'{"contract_version": "v1", "records": []}', 422, "records"),
        (f"/v1/ingest/{DATASET}", "data_producer", b'{"records": [{}]}', 422, "contract_version"),
        (f"/v1/ingest/{DATASET}", "data_producer", b"[" + b" " * (6 * 1024 * 1024) + b"]", 413, None),
    ],
)
def test_bad_requests_are_refused_naming_the_problem_and_audited(
    world: LocalWorld, path: str, role: str | None, body: bytes, status: int, field: str | None
) -> None:
    headers = {"x-api-key": world.api_keys[role]} if role else {}
    answer = send(world.running.api_url, Sent("bad", "POST", path, body, headers), 30)
    assert answer.status == status, answer.body
    if field is not None:
        assert field in {f["field"] for f in answer.body["fields"]}
    events = world.audit_log.events(AuditQuery(trace_id=answer.body["trace_id"]))
    assert [(e.outcome, e.status_code) for e in events] == [("rejected", status)]


def fetch(world: LocalWorld, method: str, path: str, headers: dict[str, str]) -> tuple[int, Message, bytes]:
    """Status, headers and body of one request to the local gateway."""
    request = urllib.request.Request(world.running.api_url + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_openapi_document_is_served_without_a_key_and_audited_as_anonymous(world: LocalWorld) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    status, headers, body = fetch(world, "GET", "/openapi.json", {"traceparent": f"00-{trace}-b7ad6b7169203331-01"})
    assert status == 200, body
    assert json.loads(body) == json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))
    assert headers["content-type"] == "application/json"
    assert {name: headers[name] for name in SECURITY_HEADERS} == SECURITY_HEADERS
    events = world.audit_log.events(AuditQuery(trace_id=trace))
    assert [(e.source, e.action, e.outcome, e.principal) for e in events] == [
        ("GovernanceApiFunction", "openapi.read", "success", "anonymous")
    ]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", f"/v1/ingest/{DATASET}", 401),
        ("GET", f"/v1/datasets/{DATASET}/snapshots", 401),
        ("DELETE", "/openapi.json", 403),
    ],
)
def test_every_answer_carries_the_security_headers(world: LocalWorld, method: str, path: str, status: int) -> None:
    # A function's refusal, and one the gateway gives itself (no route for DELETE).
    answered, headers, _ = fetch(world, method, path, {})
    assert answered == status
    assert {name: headers[name] for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_kinesis_records_are_stored_and_bad_ones_quarantined_with_unreadable_ones_unrouted(world: LocalWorld) -> None:
    good = records(world, 40, seed=16)
    bad = broken(records(world, 1, seed=17)[0], 1)
    put_on_stream(world, [*(message(r) for r in good), message(bad), "not json at all", message(good[0], dataset="x")])
    wait_for(lambda: len(ledger(world).lookup(DATASET, [r["transaction_id"] for r in good])) == 40, what="stream")
    wait_for(lambda: any(item["record_id"] == bad["transaction_id"] for item in quarantined(world)), what="quarantine")
    unrouted = wait_for(lambda: len(quarantined(world, "_unrouted")) >= 2 and quarantined(world, "_unrouted"))
    reasons = " | ".join(item["reason"] for item in unrouted)
    assert "not valid JSON" in reasons and "unknown dataset 'x'" in reasons
    events = world.audit_log.events(AuditQuery(source="IngestStreamFunction", action="ingest.records"), limit=100)
    assert events and sum(e.details["deliveries"] for e in events) == 43
    assert world.running.stats.pollers["IngestStreamFunction.IngestRecords"].failures == 0


def test_sqs_messages_are_stored_once_and_bad_ones_dead_lettered_with_their_reason(world: LocalWorld) -> None:
    sqs = client(world, "sqs")
    good = records(world, 6, seed=18)
    bad = broken(records(world, 1, seed=19)[0], 2)
    bodies = [*(message(r) for r in good), message(good[0]), message(bad)]
    sqs.send_message_batch(
        QueueUrl=world.running.queue_url("IngestQueue"),
        Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)],
    )
    wait_for(lambda: len(ledger(world).lookup(DATASET, [r["transaction_id"] for r in good])) == 6, what="queue")
    dead_url = world.running.queue_url("IngestDeadLetterQueue")
    dead = wait_for(
        lambda: sqs.receive_message(QueueUrl=dead_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages"
        ),
        what="dead letter",
    )
    assert [m["Body"] for m in dead] == [message(bad)]
    assert "record.merchant_category" in dead[0]["MessageAttributes"][REASON_ATTRIBUTE]["StringValue"]
    assert any(item["record_id"] == bad["transaction_id"] for item in quarantined(world))


def test_a_late_event_never_overwrites_newer_online_features(world: LocalWorld) -> None:
    base = records(world, 3, seed=20)
    card = base[0]["card_id"]
    now = datetime.now(UTC)
    newer = {**base[0], "event_time": (now - timedelta(hours=1)).isoformat(), "avg_amount_30d": 100.0}
    older = {**base[1], "card_id": card, "event_time": (now - timedelta(hours=5)).isoformat(), "avg_amount_30d": 5.0}
    latest = {**base[2], "card_id": card, "event_time": now.isoformat(), "avg_amount_30d": 7.0}
    features = DynamoFeatureStore(world.running.table_name("FeaturesTable"), client(world, "dynamodb"))
    key = entity_id(world.manifest, {"card_id": card}, world.pii_key())
    assert ingest(world, [newer])["stale_online_updates"] == 0
    assert ingest(world, [older])["stale_online_updates"] == 1
    assert features.get("card_fraud", key)["avg_amount_30d"] == 100
    put_on_stream(world, [message(latest)])
    wait_for(lambda: features.get("card_fraud", key)["avg_amount_30d"] == 7, what="newer event applied")


def test_pii_reaches_no_store_in_clear(world: LocalWorld) -> None:
    batch = records(world, 20, seed=21)
    ingest(world, batch)
    secrets = {r["card_id"] for r in batch} | {r["cardholder_name"] for r in batch}
    snapshot = world.call("POST", f"/v1/datasets/{DATASET}/snapshots", "ml_engineer", {}, expect=201)
    store = objects(world)
    texts = []
    for key in store.keys("offline/") + store.keys("snapshots/"):
        blob = store.get(key) or b""
        texts.append(json.dumps(decode(blob).rows(), default=str) if key.endswith(".parquet") else blob.decode())
    dynamodb = client(world, "dynamodb")
    for table in ("FeaturesTable", "IngestLedgerTable"):
        texts.append(json.dumps(dynamodb.scan(TableName=world.running.table_name(table))["Items"]))
    texts.append(json.dumps([e.model_dump(mode="json") for e in world.audit_log.events(limit=100_000)]))
    everything = "\n".join(texts)
    assert snapshot["row_count"] > 0
    assert not [secret for secret in secrets if secret in everything]


def test_snapshot_is_immutable_hashed_and_refused_once_tampered(world: LocalWorld) -> None:
    batch = records(world, 30, seed=22)
    ingest(world, batch)
    snapshot = world.call("POST", f"/v1/datasets/{DATASET}/snapshots", "data_steward", {}, expect=201)
    listed = world.call("GET", f"/v1/datasets/{DATASET}/snapshots", "auditor")["items"]
    assert listed[0]["snapshot_id"] == snapshot["snapshot_id"]
    assert world.call("GET", f"/v1/datasets/{DATASET}/snapshots/{snapshot['snapshot_id']}", "auditor") == snapshot
    manifest, table = world.snapshots().read(DATASET, snapshot["snapshot_id"])
    assert table.num_rows == snapshot["row_count"] == len(stored_rows(world))
    ids = table.data["transaction_id"]
    assert len(ids) == len(set(ids)) and {r["transaction_id"] for r in batch} <= set(ids)
    times = table.data["event_time"]
    assert times == sorted(times)  # type: ignore[type-var]
    store = objects(world)
    assert not store.put(manifest.data_key, b"other", content_type="x", if_absent=True)
    client(world, "s3").put_object(Bucket=world.running.bucket_name("DatasetsBucket"), Key=manifest.data_key, Body=b"x")
    with pytest.raises(SnapshotIntegrityError, match="content hash"):
        world.snapshots().read(DATASET, snapshot["snapshot_id"])


class RecordingWorker:
    """Answers every row with a fixed score and keeps the rows it was sent."""

    def __init__(self) -> None:
        self.requests: list[InferenceRequest] = []

    def score(self, request: InferenceRequest, timeout_s: float) -> InferenceResult:
        self.requests.append(request)
        return InferenceResult(
            request_id=request.request_id,
            model_name=request.model_name,
            model_version=request.model_version,
            artifact_digest=request.artifact_digest,
            results=[
                RowScore(
                    score=0.01, contributions=[Contribution(feature=request.feature_names[0], value=0, contribution=0)]
                )
                for _ in request.rows
            ],
            worker="recording",
            batch_size=len(request.rows),
            duration_ms=0.0,
            trace_id="0" * 32,
            span_id="0" * 16,
        )

    def train(self, request: TrainingRequest, timeout_s: float) -> TrainingResult:
        raise NotImplementedError("this worker only scores")


class OneModel:
    def __init__(self, model: ActiveModel) -> None:
        self.model = model

    def plan(self, use_case: str) -> TrafficPlan:
        return TrafficPlan(champion=self.model, challenger=None, policy=None, canary_percent=0.0)


def test_a_record_yields_the_same_features_when_ingested_and_when_served(world: LocalWorld) -> None:
    record = records(world, 1, seed=23, start=datetime.now(UTC))[0]
    put_on_stream(world, [message(record)])
    row = wait_for(lambda: stored_rows(world).get(record["transaction_id"]), what="the streamed record")
    ingested = [row[feature_column(name)] for name in world.manifest.feature_names]
    worker = RecordingWorker()
    clock = SystemClock()
    log = SqlAuditLog(world.engine)
    service = DecisionService(
        catalog=world.catalog,
        features=DynamoFeatureStore(world.running.table_name("FeaturesTable"), client(world, "dynamodb")),
        router=OneModel(ActiveModel("card-fraud", "parity", "0" * 64, tuple(world.manifest.feature_names))),
        stops=MemoryStops(),
        workers=worker,
        audit_log=log,
        decisions=SqlDecisionStore(world.engine),
        overrides=SqlOversight(world.engine),
        telemetry=StaticTelemetry(),
        clock=clock,
        breakers=BreakerBoard(5, 10.0, clock.monotonic),
        pii_key=world.pii_key(),
        deadline_margin_ms=0,
    )
    inputs = {name: record[name] for name in (f.name for f in world.manifest.inputs) if name in record}
    audit = InvocationAudit(
        SqlAuditLog(world.engine),
        clock,
        source="parity",
        action="decision.create",
        invocation_id="p",
        trace_id="0" * 32,
    )
    service.decide("card_fraud", DecisionRequest(request_id="parity-1", inputs=inputs), audit, remaining_ms=5_000)
    assert worker.requests[0].rows[0] == ingested
