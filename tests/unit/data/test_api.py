"""The ingestion API over in-memory ports: who may call, what each problem answers, one audit event per call."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from leaim.data.api import IngestionApi
from leaim.governance.access.gate import HttpAnswer, HttpGate, Invocation
from leaim.governance.access.masking import MASK
from leaim.governance.access.policy import FIELD_GRANTS, FieldClass
from leaim.governance.ports import Principal
from tests.support.fakes import TRACE, MemoryAuditLog, MemoryKeys, StaticTelemetry
from tests.support.ingestion import IngestionWorld
from tests.support.openapi import Documented

if TYPE_CHECKING:
    from contracts.audit.v1 import AuditEvent

SOURCE = "IngestApiFunction"
MAX_BODY = 256 * 1024
KEYS = {
    "producer-key": Principal("payments-etl", "data_producer"),
    "steward-key": Principal("data-office", "data_steward"),
    "client-key": Principal("checkout-service", "decision_client"),
    "auditor-key": Principal("audit-team", "auditor"),
    "ml-key": Principal("fraud-ml", "ml_engineer"),
}


class ApiWorld(IngestionWorld):
    def __init__(self) -> None:
        super().__init__()
        self.audit = MemoryAuditLog()
        self.telemetry = StaticTelemetry()
        api = IngestionApi(
            ingestion=self.service,
            quarantine=self.quarantine,
            snapshots=self.snapshots,
            gate=HttpGate(
                keys=MemoryKeys(KEYS),
                audit_log=self.audit,
                telemetry=self.telemetry,
                clock=self.clock,
                max_body_bytes=MAX_BODY,
                source=SOURCE,
            ),
        )
        self.api = Documented(api, lambda: self.audit.events)
        self.calls = 0

    def invocation(self, key: str | None) -> Invocation:
        self.calls += 1
        return Invocation(invocation_id=f"inv-{self.calls}", headers={"x-api-key": key} if key else {})

    def ingest(self, body: object, *, key: str | None = "producer-key", dataset: str = "transactions") -> HttpAnswer:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.api.ingest(dataset, raw, self.invocation(key))

    def last_event(self) -> AuditEvent:
        # Exactly one audit event per call, so far.
        assert len(self.audit.events) == self.calls
        assert len({event.invocation_id for event in self.audit.events}) == self.calls
        return self.audit.events[-1]


@pytest.fixture
def world() -> ApiWorld:
    return ApiWorld()


def batch(records: list[dict[str, object]] | list[object], version: str = "v1") -> dict[str, Any]:
    return {"schema_version": "ingest.v1", "contract_version": version, "records": records}


def test_a_batch_is_stored_and_reported(world: ApiWorld) -> None:
    records: list[object] = list(world.records(40))
    records[7] = {**records[7], "hour_of_day": 30}  # type: ignore[dict-item]
    answer = world.ingest(batch(records))
    assert answer.status == 200
    body = answer.body
    assert (body["received"], body["stored"], body["quarantined"], body["duplicates"]) == (40, 39, 1, 0)
    assert body["source"] == "http"
    assert body["trace_id"] == TRACE
    [entry] = body["quarantine"]
    assert entry["origin"] == "records[7]"
    assert "record.hour_of_day" in entry["reason"]

    event = world.last_event()
    assert (event.action, event.outcome, event.status_code) == ("ingest.records", "success", 200)
    assert (event.principal, event.role) == ("payments-etl", "data_producer")
    details = event.details
    assert (details["received"], details["stored"], details["quarantined"]) == (40, 39, 1)
    assert details["contract_versions"] == {"v1": 39}
    assert details["quarantine_ids"] == [entry["quarantine_id"]]
    assert details["partitions"] == body["partitions"]


def test_no_pii_reaches_the_audit_event_or_the_answer(world: ApiWorld) -> None:
    records = world.records(30)
    records[3] = {**records[3], "amount": "lots"}
    answer = world.ingest(batch(records))
    event_text = world.last_event().model_dump_json()
    answer_text = json.dumps(answer.body)
    for record in records:
        for secret in (str(record["card_id"]), str(record["cardholder_name"])):
            assert secret not in event_text
            assert secret not in answer_text


def test_a_caller_without_a_key_is_unauthorized(world: ApiWorld) -> None:
    for key in (None, "forged-key"):
        answer = world.ingest(batch(world.records(1)), key=key)
        assert answer.status == 401
        assert answer.body["error"] == "unauthorized"
        event = world.last_event()
        assert (event.outcome, event.status_code) == ("rejected", 401)
    assert world.objects.objects == {}


@pytest.mark.parametrize("key", ["client-key", "auditor-key", "ml-key"])
def test_a_role_without_the_ingest_permission_is_forbidden(world: ApiWorld, key: str) -> None:
    answer = world.ingest(batch(world.records(2)), key=key)
    assert answer.status == 403
    assert "datasets:ingest" in answer.body["message"]
    event = world.last_event()
    assert (event.outcome, event.status_code, event.principal) == ("rejected", 403, KEYS[key].name)
    assert world.objects.objects == {}
    assert world.ledger.entries == {}


def test_an_unknown_dataset_is_not_found(world: ApiWorld) -> None:
    answer = world.ingest(batch(world.records(1)), dataset="payments")
    assert answer.status == 404
    assert "payments" in answer.body["message"]
    assert world.last_event().status_code == 404


def test_a_body_over_the_limit_is_refused(world: ApiWorld) -> None:
    body = json.dumps(batch(world.records(1))).encode()
    answer = world.ingest(body + b" " * (MAX_BODY - len(body) + 1))
    assert answer.status == 413
    assert answer.body["error"] == "body_too_large"
    assert world.last_event().status_code == 413
    assert world.ingest(body + b" " * (MAX_BODY - len(body))).status == 200


def test_malformed_json_is_a_bad_request(world: ApiWorld) -> None:
    answer = world.ingest(b'{"contract_version": "v1", "records": [')
    assert answer.status == 400
    assert [field["field"] for field in answer.body["fields"]] == ["body"]
    assert world.last_event().status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contract_version": "v1", "records": []}, "records"),
        ({"contract_version": "v1"}, "records"),
        ({"records": [{}]}, "contract_version"),
        ({"contract_version": "", "records": [{}]}, "contract_version"),
        ({"contract_version": "v1", "records": {"a": 1}}, "records"),
        ({"schema_version": "ingest.v9", "contract_version": "v1", "records": [{}]}, "schema_version"),
        ([1, 2], "body"),
    ],
    ids=["empty-records", "no-records", "no-version", "empty-version", "records-not-a-list", "schema", "not-object"],
)
def test_an_invalid_batch_names_the_field(world: ApiWorld, body: object, field: str) -> None:
    answer = world.ingest(body)
    assert answer.status == 422
    assert field in [error["field"] for error in answer.body["fields"]]
    event = world.last_event()
    assert (event.outcome, event.status_code) == ("rejected", 422)
    assert field in [error["field"] for error in event.details["fields"]]


def test_storage_down_answers_503_with_retry_after(world: ApiWorld) -> None:
    world.objects.failing.add("offline/")
    answer = world.ingest(batch(world.records(3)))
    assert answer.status == 503
    assert answer.headers.get("retry-after") == "1"
    event = world.last_event()
    assert (event.outcome, event.status_code) == ("error", 503)


def test_the_quarantine_is_listed_with_pii_masked(world: ApiWorld) -> None:
    records = world.records(5)
    bad = [{**record, "amount": 0} for record in records]
    world.ingest(batch(bad))
    answer = world.api.quarantine("transactions", {}, world.invocation("steward-key"))
    assert answer.status == 200
    items = answer.body["items"]
    assert len(items) == 5
    for item in items:
        payload = item["payload"]
        assert payload["card_id"] == MASK
        assert payload["cardholder_name"] == MASK
        assert payload["amount"] == 0
        assert payload["transaction_id"] in {record["transaction_id"] for record in records}
    text = json.dumps(answer.body)
    for record in records:
        assert str(record["card_id"]) not in text
        assert str(record["cardholder_name"]) not in text
    event = world.last_event()
    assert (event.action, event.details) == ("ingest.quarantine.list", {"dataset": "transactions", "listed": 5})
    assert str(records[0]["card_id"]) not in event.model_dump_json()


def test_the_quarantine_shows_the_protected_age_band_to_the_auditor_alone(world: ApiWorld) -> None:
    records = [{**record, "amount": 0, "cardholder_age_band": "26-40"} for record in world.records(3)]
    world.ingest(batch(records))

    steward = world.api.quarantine("transactions", {}, world.invocation("steward-key"))
    auditor = world.api.quarantine("transactions", {}, world.invocation("auditor-key"))

    assert {item["payload"]["cardholder_age_band"] for item in steward.body["items"]} == {MASK}
    assert {item["payload"]["cardholder_age_band"] for item in auditor.body["items"]} == {"26-40"}
    # PII is granted to no role: the auditor sees the card as masked as the steward does.
    assert {item["payload"]["card_id"] for item in auditor.body["items"]} == {MASK}


def test_the_quarantine_shows_pii_to_a_role_granted_it(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FIELD_GRANTS, FieldClass.PII, frozenset({"data_steward"}))
    records = [{**record, "amount": 0} for record in world.records(2)]
    world.ingest(batch(records))

    steward = world.api.quarantine("transactions", {}, world.invocation("steward-key"))
    auditor = world.api.quarantine("transactions", {}, world.invocation("auditor-key"))

    assert {item["payload"]["card_id"] for item in steward.body["items"]} == {record["card_id"] for record in records}
    assert {item["payload"]["card_id"] for item in auditor.body["items"]} == {MASK}


def test_the_quarantine_is_paged(world: ApiWorld) -> None:
    world.ingest(batch([{**record, "amount": 0} for record in world.records(5)]))
    first = world.api.quarantine("transactions", {"limit": "3"}, world.invocation("auditor-key"))
    assert first.status == 200
    assert len(first.body["items"]) == 3
    token = first.body["next_token"]
    assert token == first.body["items"][-1]["quarantine_id"]
    rest = world.api.quarantine("transactions", {"limit": "3", "after": token}, world.invocation("auditor-key"))
    assert len(rest.body["items"]) == 2
    assert rest.body["next_token"] is None
    seen = {item["quarantine_id"] for item in first.body["items"] + rest.body["items"]}
    assert len(seen) == 5


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten", "2.5", "\u00b2"])
def test_a_limit_out_of_range_names_query_limit(world: ApiWorld, limit: str) -> None:
    answer = world.api.quarantine("transactions", {"limit": limit}, world.invocation("steward-key"))
    assert answer.status == 422
    assert [error["field"] for error in answer.body["fields"]] == ["query.limit"]
    assert world.last_event().status_code == 422


@pytest.mark.parametrize("after", ["", "not-an-id", "A" * 32, "a" * 31, "a" * 32 + "\n", "|nq\u00ca\x98/\u00c7\x19"])
def test_an_after_that_is_not_a_quarantine_id_names_query_after(world: ApiWorld, after: str) -> None:
    # Found by the conformance fuzzing: such a key to start after made the object store fail, answered 503.
    answer = world.api.quarantine("transactions", {"after": after}, world.invocation("steward-key"))
    assert answer.status == 422
    assert [error["field"] for error in answer.body["fields"]] == ["query.after"]
    assert world.last_event().status_code == 422


def test_a_producer_may_not_read_the_quarantine(world: ApiWorld) -> None:
    answer = world.api.quarantine("transactions", {}, world.invocation("producer-key"))
    assert answer.status == 403
    assert world.last_event().status_code == 403


def test_replay_over_http_stores_the_fixed_records(world: ApiWorld) -> None:
    world.ingest(batch(world.records(4), version="v0"))
    denied = world.api.replay("transactions", b"{}", world.invocation("producer-key"))
    assert denied.status == 403
    answer = world.api.replay("transactions", b'{"contract_version": "v2"}', world.invocation("steward-key"))
    assert answer.status == 200
    assert (answer.body["replayed"], answer.body["stored"], answer.body["still_quarantined"]) == (4, 4, 0)
    event = world.last_event()
    assert (event.action, event.details["stored"], event.details["contract_version"]) == (
        "ingest.quarantine.replay",
        4,
        "v2",
    )
    listed = world.api.quarantine("transactions", {}, world.invocation("steward-key"))
    assert listed.body["items"] == []


def test_a_snapshot_is_created_listed_and_read(world: ApiWorld) -> None:
    world.ingest(batch(world.records(12)))
    created = world.api.create_snapshot("transactions", b"", world.invocation("ml-key"))
    assert created.status == 201
    assert created.body["row_count"] == 12
    assert created.body["created_by"] == "fraud-ml"
    event = world.last_event()
    assert (event.action, event.status_code) == ("dataset.snapshot.create", 201)
    assert event.details["content_sha256"] == created.body["content_sha256"]
    assert event.details["row_count"] == 12

    listed = world.api.list_snapshots("transactions", world.invocation("auditor-key"))
    assert listed.status == 200
    assert [item["snapshot_id"] for item in listed.body["items"]] == [created.body["snapshot_id"]]
    read = world.api.read_snapshot("transactions", created.body["snapshot_id"], world.invocation("auditor-key"))
    assert (read.status, read.body) == (200, created.body)
    missing = world.api.read_snapshot("transactions", "transactions-nope", world.invocation("auditor-key"))
    assert missing.status == 404
    world.last_event()


def test_a_snapshot_of_nothing_is_a_conflict(world: ApiWorld) -> None:
    answer = world.api.create_snapshot("transactions", b"{}", world.invocation("steward-key"))
    assert answer.status == 409
    assert answer.body["error"] == "no_records"
    event = world.last_event()
    assert (event.outcome, event.status_code) == ("rejected", 409)


def test_snapshot_creation_needs_the_permission(world: ApiWorld) -> None:
    world.ingest(batch(world.records(2)))
    for key in ("producer-key", "auditor-key", "client-key"):
        answer = world.api.create_snapshot("transactions", b"{}", world.invocation(key))
        assert answer.status == 403
    world.last_event()
    assert world.snapshots.list("transactions") == []


def test_a_snapshot_range_is_validated(world: ApiWorld) -> None:
    world.ingest(batch(world.records(2)))
    answer = world.api.create_snapshot("transactions", b'{"since": "yesterday"}', world.invocation("ml-key"))
    assert answer.status == 422
    assert [error["field"] for error in answer.body["fields"]] == ["since"]
    world.last_event()


def test_a_snapshot_range_without_a_utc_offset_is_refused_not_a_server_error(world: ApiWorld) -> None:
    world.ingest(batch(world.records(2)))
    answer = world.api.create_snapshot("transactions", b'{"since": "2026-03-01T00:00:00"}', world.invocation("ml-key"))
    assert answer.status == 422
    assert "since" in [error["field"] for error in answer.body["fields"]]
    world.last_event()


@pytest.mark.parametrize(
    "quarantine_id",
    ["../../offline/transactions/date=2026-03-01/x", "0123456789ABCDEF0123456789ABCDEF", "0123", ""],
    ids=["path", "upper-case", "short", "empty"],
)
def test_a_replay_naming_an_id_that_is_not_a_quarantine_id_is_refused(world: ApiWorld, quarantine_id: str) -> None:
    world.ingest(batch(world.records(1), version="v0"))
    body = json.dumps({"quarantine_ids": [quarantine_id], "contract_version": "v1"}).encode()
    answer = world.api.replay("transactions", body, world.invocation("steward-key"))
    assert answer.status == 422
    assert [error["field"] for error in answer.body["fields"]] == ["quarantine_ids.0"]
    assert world.last_event().status_code == 422
    assert world.ledger.entries == {}


def test_a_replay_naming_one_id_twice_replays_it_once(world: ApiWorld) -> None:
    [entry] = world.ingest(batch(world.records(1), version="v0")).body["quarantine"]
    body = json.dumps({"quarantine_ids": [entry["quarantine_id"]] * 2, "contract_version": "v1"}).encode()
    answer = world.api.replay("transactions", body, world.invocation("steward-key"))
    assert answer.status == 200
    assert (answer.body["replayed"], answer.body["stored"], answer.body["duplicates"]) == (1, 1, 0)
    assert world.last_event().details["replayed"] == 1


def test_a_quarantined_record_that_is_not_an_object_is_listed_masked(world: ApiWorld) -> None:
    [record] = world.records(1)
    # A record wrapped in an array: no contract field names its parts, so none of it may be listed.
    records: list[object] = [[record], {"card_id": record["card_id"]}]
    world.ingest(batch(records))
    answer = world.api.quarantine("transactions", {}, world.invocation("steward-key"))
    assert answer.status == 200
    payloads = sorted((item["payload"] for item in answer.body["items"]), key=json.dumps)
    assert payloads == ["***", {"card_id": MASK}]
    assert str(record["card_id"]) not in json.dumps(answer.body)


def test_a_snapshot_cut_again_at_the_same_instant_is_a_conflict_not_a_server_error(world: ApiWorld) -> None:
    world.ingest(batch(world.records(3)))
    first = world.api.create_snapshot("transactions", b"", world.invocation("ml-key"))
    assert first.status == 201
    # The clock has not moved and nothing new is stored: the second snapshot would have the first one's id.
    again = world.api.create_snapshot("transactions", b"", world.invocation("ml-key"))
    assert again.status == 409
    assert again.body["error"] == "snapshot_exists"
    event = world.last_event()
    assert (event.outcome, event.status_code) == ("rejected", 409)
    assert [s.snapshot_id for s in world.snapshots.list("transactions")] == [first.body["snapshot_id"]]


@pytest.mark.parametrize("stored", [True, False], ids=["records", "no-records"])
def test_a_snapshot_since_the_first_day_of_year_one_is_not_a_server_error(world: ApiWorld, stored: bool) -> None:
    if stored:
        world.ingest(batch(world.records(2)))
    # 0001-01-01T00:00:00+05:00 is a day of year 0 in UTC, which datetime cannot hold.
    body = b'{"since": "0001-01-01T00:00:00+05:00"}'
    answer = world.api.create_snapshot("transactions", body, world.invocation("ml-key"))
    if stored:
        assert answer.status == 201
        assert answer.body["row_count"] == 2
    else:
        assert (answer.status, answer.body["error"]) == (409, "no_records")
    assert world.last_event().status_code == answer.status
