from __future__ import annotations

import importlib
from typing import Any

import pytest

import leaim.bootstrap.lifecycle
from leaim.lifecycle.consumer import TrainingConsumer
from tests.support.fakes import ManualClock, MemoryAuditLog, StaticTelemetry
from tests.support.lambdas import lambda_context, sqs_event, warnings_logged

SOURCE = "TrainingQueueFunction"


class NoJobs:
    """Jobs no test runs: a message that names no job never reaches them."""

    def run(self, job_id: str, **_: Any) -> Any:
        raise AssertionError(f"job {job_id} run")


@pytest.fixture
def queue_function(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, MemoryAuditLog]:
    """The training queue function in a fresh container, its consumer over fakes."""
    audit = MemoryAuditLog()
    consumer = TrainingConsumer(
        jobs=NoJobs(), audit_log=audit, telemetry=StaticTelemetry(), clock=ManualClock(), source=SOURCE
    )
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "LEAIM")
    monkeypatch.setattr(leaim.bootstrap.lifecycle, "build_lifecycle", lambda service: None)
    monkeypatch.setattr(leaim.bootstrap.lifecycle, "build_training_consumer", lambda lifecycle, source: consumer)
    from functions.training_queue import app

    return importlib.reload(app), audit


def test_a_batch_of_unreadable_messages_answers_a_partial_response_naming_each_with_one_line_each(
    queue_function: tuple[Any, MemoryAuditLog], caplog: pytest.LogCaptureFixture
) -> None:
    function, audit = queue_function
    answer = function.lambda_handler(sqs_event("not json", "{}"), lambda_context(SOURCE))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}, {"itemIdentifier": "m-1"}]}
    lines = warnings_logged(function, caplog)
    assert [(line["message"], line["message_id"]) for line in lines] == [
        ("message refused", "m-0"),
        ("message refused", "m-1"),
    ]
    assert "not valid JSON" in lines[0]["reason"] and "job_id" in lines[1]["reason"]
    assert not any("exception" in line for line in lines)
    assert not any(record.exc_info for record in caplog.records)
    assert [event.outcome for event in audit.events] == ["rejected", "rejected"]
