from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING

import pytest

from embedded.emulation.exceptions import FunctionTimeoutError
from embedded.emulation.stack import STATE_FILE, LocalStack
from tests.integration.embedded.emulation.conftest import FIXTURES

if TYPE_CHECKING:
    from pathlib import Path


def test_handlers_see_resolved_environment(stack: LocalStack) -> None:
    response = stack.invoke("EchoFunction", {"resource": "/v1/items/{item_id}"})
    environment = json.loads(response["body"])["environment"]
    assert environment == {
        "FIXTURE_GREETING": "hello",
        "FIXTURE_DELIVERIES_TABLE": stack.table_name("DeliveriesTable"),
        "FIXTURE_REGION": "us-east-1",
        "FIXTURE_WORK_QUEUE_URL": stack.queue_url("WorkQueue"),
        "FIXTURE_WORK_QUEUE_ARN": stack.queue_arn("WorkQueue"),
        "FIXTURE_WORK_QUEUE_NAME": "fixture-WorkQueue",
        "FIXTURE_ARCHIVE_ARN": "arn:aws:s3:::fixture-archivebucket",
        "FIXTURE_SUMMARY": "fixture/fixture-WorkQueue/hello",
        "FIXTURE_MODE": "embedded",
        "FIXTURE_FIRST": "alpha",
    }
    assert os.environ["AWS_ENDPOINT_URL"] == stack.endpoint_url


def test_invoke_builds_a_context_that_counts_down_from_the_timeout(stack: LocalStack) -> None:
    body = json.loads(stack.invoke("EchoFunction", {"resource": "/v1/items/{item_id}"})["body"])
    assert body["function_name"] == "fixture-EchoFunction"
    assert 0 < body["remaining_ms"] <= 1000
    context = stack.function("WorkerFunction").configuration.new_context()
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:fixture-WorkerFunction"
    assert (context.memory_limit_in_mb, context.log_group_name) == ("256", "/aws/lambda/fixture-WorkerFunction")


def test_invoke_past_the_timeout_raises(stack: LocalStack) -> None:
    with pytest.raises(FunctionTimeoutError, match="timed out after 1 seconds"):
        stack.invoke("EchoFunction", {"resource": "/v1/slow"})


def test_state_file_records_where_the_stack_listens(stack: LocalStack) -> None:
    state = json.loads((stack.state_dir / STATE_FILE).read_text())
    assert state["endpoint_url"] == stack.endpoint_url
    assert state["api_url"] == stack.api_url
    assert state["resources"]["WorkQueue"]["ref"] == stack.queue_url("WorkQueue")


def _environment(stack: LocalStack, logical_id: str) -> dict[str, str]:
    body = json.loads(stack.invoke(logical_id, {"resource": "/v1/items/{item_id}"})["body"])
    environment: dict[str, str] = body["environment"]
    return environment


def test_each_function_sees_only_its_own_environment_and_this_process_keeps_its_own(tmp_path: Path) -> None:
    before = dict(os.environ)
    with LocalStack(FIXTURES / "environments.yaml", state_dir=tmp_path, stack_name="own") as own:
        assert _environment(own, "FirstFunction") == {
            "FIXTURE_TARGET": own.queue_url("FirstQueue"),
            "FIXTURE_FIRST_ONLY": "first",
        }
        assert _environment(own, "SecondFunction") == {"FIXTURE_TARGET": own.queue_url("SecondQueue")}
        assert own.function_environment("SecondFunction")["FIXTURE_TARGET"] == own.queue_url("SecondQueue")
        assert not any(name.startswith("FIXTURE_") for name in os.environ)
        assert os.environ["AWS_ENDPOINT_URL"] == own.endpoint_url
    assert dict(os.environ) == before


def test_an_environment_override_reaches_every_function(tmp_path: Path) -> None:
    overrides = {"FIXTURE_TARGET": "chosen", "FIXTURE_EXTRA": "local"}
    with LocalStack(
        FIXTURES / "environments.yaml", state_dir=tmp_path, stack_name="settled", environment=overrides
    ) as settled:
        assert (tmp_path / STATE_FILE).exists()
        assert settled.queue_url("FirstQueue").endswith("/settled-FirstQueue")
        assert _environment(settled, "FirstFunction") == {**overrides, "FIXTURE_FIRST_ONLY": "first"}
        assert _environment(settled, "SecondFunction") == overrides
    assert not (tmp_path / STATE_FILE).exists()


def test_functions_log_to_the_output_of_the_moment_not_to_that_of_an_earlier_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_log = tmp_path / "first.log"
    with (
        first_log.open("w", encoding="utf-8") as target,
        contextlib.redirect_stdout(target),
        LocalStack(FIXTURES / "logs.yaml", state_dir=tmp_path / "first", stack_name="logs-first") as first,
    ):
        first.invoke("LogsFunction", {"message": "into the first file"})
    with LocalStack(FIXTURES / "logs.yaml", state_dir=tmp_path / "second", stack_name="logs-second") as second:
        assert second.invoke("LogsFunction", {"message": "onto the terminal"}) == {"logged": "onto the terminal"}

    captured = capsys.readouterr()
    assert [json.loads(line)["message"] for line in first_log.read_text().splitlines()] == ["into the first file"]
    assert [json.loads(line)["message"] for line in captured.out.splitlines()] == ["onto the terminal"]
    assert captured.err == ""
