from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

import leaim.bootstrap.decisions
from leaim.orchestration.consumer import DeadLettered, DecisionConsumer, QueueRecord
from leaim.orchestration.exceptions import PoisonMessageError
from tests.support.fakes import World, transaction
from tests.support.lambdas import lambda_context, sqs_event, warnings_logged


class Published:
    def __init__(self) -> None:
        self.decisions = []

    def publish(self, decision) -> None:
        self.decisions.append(decision)


class DeadLetters:
    def __init__(self) -> None:
        self.sent = []

    def send(self, body, attributes, reason) -> None:
        self.sent.append((body, dict(attributes), reason))


def make(world: World):
    published, dead = Published(), DeadLetters()
    consumer = DecisionConsumer(
        service=world.service,
        publisher=published,
        dead_letters=dead,
        audit_log=world.audit,
        telemetry=world.telemetry,
        clock=world.clock,
        max_receive_count=3,
        source="DecisionQueueFunction",
    )
    return consumer, published, dead


def record(body: str, receive_count: int = 1, message_id: str = "m-1") -> QueueRecord:
    return QueueRecord(
        message_id=message_id,
        body=body,
        receive_count=receive_count,
        attributes={"principal": "batch-job"},
        sender_id="AIDAEXAMPLE",
    )


def test_a_message_becomes_one_published_decision() -> None:
    world = World()
    consumer, published, _ = make(world)
    body = json.dumps({"use_case": "card_fraud", "request": {"request_id": "q-1", "inputs": transaction()}})
    decision = consumer.handle(record(body), "inv", 5000)
    assert decision is not None and published.decisions == [decision]
    event = next(e for e in world.audit.events if e.source == "DecisionQueueFunction")
    assert event.principal == "sqs:AIDAEXAMPLE" and event.invocation_id == "inv:m-1:1"


def test_a_message_carrying_the_schema_version_its_answers_carry_is_decided() -> None:
    world = World()
    consumer, published, dead = make(world)
    request = {"schema_version": "decision.v1", "request_id": "q-v", "inputs": transaction()}
    body = json.dumps({"schema_version": "decision.v1", "use_case": "card_fraud", "request": request})

    decision = consumer.handle(record(body), "inv", 5000)

    assert decision is not None and published.decisions == [decision] and dead.sent == []
    assert decision.schema_version == "decision.v1"


def test_poison_message_is_retried_then_dead_lettered_with_its_reason() -> None:
    world = World()
    consumer, published, dead = make(world)
    body = json.dumps({"use_case": "card_fraud", "request": {"request_id": "q-2", "inputs": {"amount": "lots"}}})
    for attempt in (1, 2):
        with pytest.raises(PoisonMessageError):
            consumer.handle(record(body, attempt), f"inv-{attempt}", 5000)
    assert consumer.handle(record(body, 3), "inv-3", 5000) == DeadLettered("m-1", dead.sent[0][2])
    assert len(dead.sent) == 1 and dead.sent[0][0] == body
    assert "inputs.amount" in dead.sent[0][2]
    events = [e for e in world.audit.events if e.source == "DecisionQueueFunction"]
    assert [e.details.get("dead_lettered", False) for e in events] == [False, False, True]
    assert all(e.outcome == "rejected" for e in events)
    assert published.decisions == []


def test_unparseable_body_is_poison() -> None:
    world = World()
    consumer, _, dead = make(world)
    consumer.handle(record("not json", 3), "inv", 5000)
    assert "not valid JSON" in dead.sent[0][2]


def test_the_dead_letter_carries_the_source_message_id() -> None:
    world = World()
    consumer, _, dead = make(world)
    consumer.handle(record("[[[", 3, message_id="m-9"), "inv", 5000)
    assert dead.sent[0][1]["source_message_id"] == "m-9"


def test_a_failed_dead_letter_send_leaves_the_delivery_audited_and_retried() -> None:
    world = World()
    consumer, _, dead = make(world)

    def down(body, attributes, reason):
        raise ConnectionError("sqs unreachable")

    dead.send = down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        consumer.handle(record("not json", 3), "inv", 5000)
    (event,) = [e for e in world.audit.events if e.source == "DecisionQueueFunction"]
    assert event.outcome == "rejected" and event.details["dead_lettered"] is True


SOURCE = "DecisionQueueFunction"


class ResultQueue(Published):
    def register_lambda_context(self, context) -> None:
        self.context = context


@pytest.fixture
def queue_function(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, World, DeadLetters]:
    """The decision queue function in a fresh container, its consumer over the fakes."""
    world = World()
    consumer, _, dead = make(world)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LEAIM")
    monkeypatch.setattr(leaim.bootstrap.decisions, "build_decisions", lambda service: world)
    monkeypatch.setattr(
        leaim.bootstrap.decisions, "build_decision_consumer", lambda decisions, source: (consumer, ResultQueue())
    )
    from functions.decision_queue import app

    return importlib.reload(app), world, dead


def test_a_batch_whose_every_message_is_poison_answers_a_partial_response_naming_each(
    queue_function: tuple[Any, World, DeadLetters],
) -> None:
    function, _, _ = queue_function
    bodies = ["not json", '{"use_case": "card_fraud", "request": {"request_id": "q-1", "inputs": {}}}', "[[["]
    answer = function.lambda_handler(sqs_event(*bodies), lambda_context(SOURCE))
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"m-{index}"} for index in range(3)]}


def test_a_poison_message_is_one_log_line_with_its_id_and_reason_and_no_traceback(
    queue_function: tuple[Any, World, DeadLetters], caplog: pytest.LogCaptureFixture
) -> None:
    function, _, _ = queue_function
    valid = json.dumps({"use_case": "card_fraud", "request": {"request_id": "q-1", "inputs": transaction()}})
    answer = function.lambda_handler(sqs_event(valid, "not json"), lambda_context(SOURCE))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    (refused,) = warnings_logged(function, caplog)
    assert refused["level"] == "WARNING" and refused["message"] == "message refused"
    assert refused["message_id"] == "m-1" and "not valid JSON" in refused["reason"]
    assert "exception" not in refused
    assert not any(record.exc_info for record in caplog.records)


def test_a_dead_lettered_message_is_handled_and_logged_once_with_its_reason(
    queue_function: tuple[Any, World, DeadLetters], caplog: pytest.LogCaptureFixture
) -> None:
    function, _, dead = queue_function
    answer = function.lambda_handler(sqs_event("not json", receive_count=3), lambda_context(SOURCE))
    assert answer == {"batchItemFailures": []} and len(dead.sent) == 1
    (line,) = warnings_logged(function, caplog)
    assert line["message"] == "message dead-lettered" and line["message_id"] == "m-0"
    assert line["reason"] == dead.sent[0][2]


def test_an_unexpected_failure_keeps_its_traceback(
    queue_function: tuple[Any, World, DeadLetters], caplog: pytest.LogCaptureFixture
) -> None:
    function, _, dead = queue_function

    def down(body, attributes, reason):
        raise ConnectionError("sqs unreachable")

    dead.send = down  # type: ignore[method-assign]
    answer = function.lambda_handler(sqs_event("not json", receive_count=3), lambda_context(SOURCE))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    (line,) = warnings_logged(function, caplog)
    assert line["level"] == "ERROR" and line["message"] == "message failed" and line["message_id"] == "m-0"
    assert "ConnectionError: sqs unreachable" in line["exception"]
