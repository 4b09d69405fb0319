from __future__ import annotations

import json

import pytest

from leaim.orchestration.consumer import DecisionConsumer, QueueRecord
from leaim.orchestration.exceptions import PoisonMessageError
from tests.support.fakes import World, transaction


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


def test_poison_message_is_retried_then_dead_lettered_with_its_reason() -> None:
    world = World()
    consumer, published, dead = make(world)
    body = json.dumps({"use_case": "card_fraud", "request": {"request_id": "q-2", "inputs": {"amount": "lots"}}})
    for attempt in (1, 2):
        with pytest.raises(PoisonMessageError):
            consumer.handle(record(body, attempt), f"inv-{attempt}", 5000)
    assert consumer.handle(record(body, 3), "inv-3", 5000) is None
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
