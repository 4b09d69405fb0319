"""The ingest queue and stream consumer: unreadable messages quarantined, storage failures retried, audited."""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, Any

import pytest
import yaml

import leaim.bootstrap.ingestion
from contracts.ingest.v1 import QuarantinedRecord
from leaim.data.consumer import Delivery, IngestionConsumer
from leaim.data.datasets import shipped_directory
from leaim.data.ingestion import UNROUTED, quarantine_prefix
from leaim.exceptions import DependencyUnavailableError
from tests.support.fakes import MemoryAuditLog, StaticTelemetry
from tests.support.ingestion import IngestionWorld
from tests.support.lambdas import lambda_context, sqs_event, warnings_logged

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from contracts.audit.v1 import AuditEvent
    from contracts.ingest.v1 import Source


class MemoryDeadLetters:
    """Keeps what it is sent; refuses, as an unreachable queue would, the messages named in `refused`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, str], str]] = []
        self.refused: set[str] = set()

    def send(self, body: str, attributes: Mapping[str, str], reason: str) -> None:
        if attributes.get("source_message_id") in self.refused:
            raise DependencyUnavailableError("dead-letter queue unreachable")
        self.sent.append((body, dict(attributes), reason))


class ConsumerWorld(IngestionWorld):
    def __init__(self, folder: Path | None = None, kind: Source = "sqs") -> None:
        super().__init__(folder)
        self.audit = MemoryAuditLog()
        self.dead_letters = MemoryDeadLetters()
        self.consumer = IngestionConsumer(
            service=self.service,
            dead_letters=self.dead_letters if kind == "sqs" else None,
            audit_log=self.audit,
            telemetry=StaticTelemetry(),
            clock=self.clock,
            kind=kind,
            source="IngestQueueFunction",
        )

    def only_event(self) -> AuditEvent:
        [event] = self.audit.events
        return event


def message(record: object, dataset: str = "transactions", version: str = "v1") -> str:
    return json.dumps(
        {"schema_version": "ingest.v1", "dataset": dataset, "contract_version": version, "record": record}
    )


def deliveries(bodies: list[str]) -> list[Delivery]:
    return [
        Delivery(identifier=f"msg-{i}", body=body, origin=f"sqs:msg-{i}", attributes={"producer": "etl"})
        for i, body in enumerate(bodies)
    ]


def unrouted(world: IngestionWorld) -> list[QuarantinedRecord]:
    return [QuarantinedRecord.model_validate_json(b) for b in world.objects.under(quarantine_prefix(UNROUTED)).values()]


@pytest.fixture
def two_datasets(tmp_path: Path) -> Path:
    """The shipped transactions contracts plus `payments`, a copy of transactions v1 under another name."""
    for file in shipped_directory().glob("*.yaml"):
        (tmp_path / file.name).write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
    payments = yaml.safe_load((shipped_directory() / "transactions.v1.yaml").read_text(encoding="utf-8"))
    payments["dataset"] = "payments"
    (tmp_path / "payments.v1.yaml").write_text(yaml.safe_dump(payments), encoding="utf-8")
    return tmp_path


def test_unreadable_and_unroutable_messages_are_quarantined_without_failing_the_batch() -> None:
    world = ConsumerWorld()
    good = world.records(3)
    bodies = [
        message(good[0]),
        "{not json",
        json.dumps({"schema_version": "ingest.v1", "record": good[1]}),
        message(good[1], dataset="loans"),
        message({**good[2], "hour_of_day": -1}),
        message(good[2]),
    ]
    batch = deliveries(bodies)

    failed = world.consumer.handle(batch, "inv-1").failed

    assert failed == []
    assert len(world.ledger.entries) == 2
    reasons = {record.origin: record for record in unrouted(world)}
    assert sorted(reasons) == ["sqs:msg-1", "sqs:msg-2", "sqs:msg-3"]
    assert reasons["sqs:msg-1"].reason.startswith("message is not valid JSON")
    assert reasons["sqs:msg-2"].reason.startswith("message is not ingest.v1")
    assert "dataset" in reasons["sqs:msg-2"].reason
    assert "contract_version" in reasons["sqs:msg-2"].reason
    assert reasons["sqs:msg-3"].reason == "unknown dataset 'loans'"
    assert all(record.payload == bodies[int(origin[-1])] for origin, record in reasons.items())
    [bad] = [QuarantinedRecord.model_validate_json(b) for b in world.objects.under("quarantine/transactions/").values()]
    assert bad.origin == "sqs:msg-4"
    assert "record.hour_of_day" in bad.reason

    event = world.only_event()
    assert (event.action, event.outcome, event.source) == ("ingest.records", "success", "IngestQueueFunction")
    assert (event.details["deliveries"], event.details["failed"], event.details["unrouted"]) == (6, 0, 3)
    report = event.details["datasets"]["transactions"]
    assert (report["received"], report["stored"], report["quarantined"]) == (3, 2, 1)


def test_sqs_sends_every_quarantined_delivery_to_the_dead_letter_queue_with_its_reason() -> None:
    world = ConsumerWorld()
    good = world.records(2)
    bodies = ["[]", message(good[0]), message({**good[1], "amount": "12"}), message(good[1], dataset="loans")]
    result = world.consumer.handle(deliveries(bodies), "inv-1")
    sent = {
        attributes["source_message_id"]: (body, attributes, reason)
        for body, attributes, reason in world.dead_letters.sent
    }
    assert sorted(sent) == ["msg-0", "msg-2", "msg-3"]
    assert sent["msg-0"][0] == "[]"
    assert sent["msg-0"][2].startswith("message is not ingest.v1")
    assert "record.amount" in sent["msg-2"][2]
    assert sent["msg-3"][2] == "unknown dataset 'loans'"
    assert all(attributes["producer"] == "etl" for _, attributes, _ in sent.values())
    assert all(body == bodies[int(mid[-1])] for mid, (body, _, _) in sent.items())
    # What the function logs, one line each: the reason of every quarantined delivery, by its identifier.
    assert result.quarantined == {mid: reason for mid, (_, _, reason) in sent.items()}
    assert result.failed == [] and result.errors == []


def test_kinesis_quarantines_without_a_dead_letter_queue() -> None:
    world = ConsumerWorld(kind="kinesis")
    failed = world.consumer.handle(deliveries(["nope", message(world.records(1)[0])]), "inv-1").failed
    assert failed == []
    [record] = unrouted(world)
    assert record.source == "kinesis"
    assert world.dead_letters.sent == []
    assert world.only_event().outcome == "success"


def test_a_storage_failure_fails_only_the_deliveries_of_that_dataset(two_datasets: Path) -> None:
    world = ConsumerWorld(two_datasets)
    records = world.records(4)
    bodies = [
        message(records[0], dataset="transactions"),
        message(records[1], dataset="payments"),
        message(records[2], dataset="transactions"),
        message(records[3], dataset="payments"),
        message({**records[3], "amount": -1}, dataset="payments"),
    ]
    world.objects.failing.add("offline/transactions/")

    failed = world.consumer.handle(deliveries(bodies), "inv-1").failed

    assert failed == ["msg-0", "msg-2"]
    assert set(world.ledger.entries) == {
        ("payments", str(records[1]["transaction_id"])),
        ("payments", str(records[3]["transaction_id"])),
    }
    event = world.only_event()
    assert event.outcome == "error"
    assert event.error is not None
    assert event.error.startswith("transactions:")
    assert event.details["failed"] == 2
    assert set(event.details["datasets"]) == {"payments"}
    # Only the record that failed its contract is dead-lettered, not the deliveries that will be retried.
    assert [attributes["source_message_id"] for _, attributes, _ in world.dead_letters.sent] == ["msg-4"]


def test_the_failed_deliveries_succeed_when_retried() -> None:
    world = ConsumerWorld()
    batch = deliveries([message(record) for record in world.records(3)])
    world.objects.failing.add("offline/")
    assert world.consumer.handle(batch, "inv-1").failed == ["msg-0", "msg-1", "msg-2"]
    world.objects.failing.clear()
    assert world.consumer.handle(batch, "inv-2").failed == []
    assert len(world.ledger.entries) == 3
    assert [event.outcome for event in world.audit.events] == ["error", "success"]


def test_a_bucket_that_is_down_fails_every_delivery_and_is_still_audited() -> None:
    world = ConsumerWorld()
    batch = deliveries([message(world.records(1)[0]), "not json"])
    world.objects.failing.add("")

    failed = world.consumer.handle(batch, "inv-1").failed

    # The unrouted delivery could not be quarantined either: it is retried too, and the invocation is audited.
    assert failed == ["msg-0", "msg-1"]
    assert world.only_event().outcome == "error"


def test_one_audit_event_per_batch() -> None:
    world = ConsumerWorld()
    records = world.records(6)
    for index in range(3):
        world.consumer.handle(
            deliveries([message(records[2 * index]), message(records[2 * index + 1])]), f"inv-{index}"
        )
    assert [event.invocation_id for event in world.audit.events] == ["inv-0", "inv-1", "inv-2"]
    assert all(event.details["deliveries"] == 2 for event in world.audit.events)
    assert len(world.ledger.entries) == 6


def test_a_dead_letter_that_cannot_be_sent_fails_only_its_delivery_and_is_audited() -> None:
    world = ConsumerWorld()
    good = world.records(3)
    bodies = [message(good[0]), message({**good[1], "amount": -1}), "{not json", message({**good[2], "amount": -2})]
    world.dead_letters.refused.add("msg-1")

    failed = world.consumer.handle(deliveries(bodies), "inv-1").failed

    # The record is quarantined, but its copy for the dead-letter queue is not sent: only that delivery is retried.
    assert failed == ["msg-1"]
    assert sorted(attributes["source_message_id"] for _, attributes, _ in world.dead_letters.sent) == [
        "msg-2",
        "msg-3",
    ]
    assert len(world.ledger.entries) == 1
    event = world.only_event()
    assert event.outcome == "error"
    assert event.error is not None
    assert "msg-1" in event.error
    assert not any(name in event.error for name in ("msg-0", "msg-2", "msg-3"))
    assert event.details["failed"] == 1


@pytest.fixture
def ingest_queue(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ConsumerWorld]:
    """The ingest queue function in a fresh container, its consumer over the fakes."""
    world = ConsumerWorld()
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LEAIM")
    monkeypatch.setattr(leaim.bootstrap.ingestion, "build_ingestion", lambda service: None)
    monkeypatch.setattr(
        leaim.bootstrap.ingestion, "build_ingestion_consumer", lambda ingestion, kind, source: world.consumer
    )
    from functions.ingest_queue import app

    return importlib.reload(app), world


def test_the_function_logs_a_quarantined_message_as_one_line_with_its_id_and_reason(
    ingest_queue: tuple[Any, ConsumerWorld], caplog: pytest.LogCaptureFixture
) -> None:
    function, world = ingest_queue
    event = sqs_event(message(world.records(1)[0]), "{not json")
    assert function.lambda_handler(event, lambda_context("IngestQueueFunction")) == {"batchItemFailures": []}
    (line,) = warnings_logged(function, caplog)
    assert (line["level"], line["message"], line["message_id"]) == ("WARNING", "record quarantined", "m-1")
    assert line["reason"].startswith("message is not valid JSON") and "exception" not in line


def test_the_function_logs_a_storage_failure_with_its_traceback_and_names_every_delivery(
    ingest_queue: tuple[Any, ConsumerWorld], caplog: pytest.LogCaptureFixture
) -> None:
    function, world = ingest_queue
    world.objects.failing.add("offline/")
    event = sqs_event(*(message(record) for record in world.records(2)))
    answer = function.lambda_handler(event, lambda_context("IngestQueueFunction"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}
    (line,) = warnings_logged(function, caplog)
    assert (line["level"], line["message"], line["what"]) == ("ERROR", "records not stored", "transactions")
    assert "Traceback" in line["exception"]
