from __future__ import annotations

import contextlib
import json
import os
from typing import TYPE_CHECKING

import boto3
import pytest

from embedded.emulation.aws import LocalEndpoint, local_session
from embedded.emulation.exceptions import FunctionTimeoutError
from embedded.emulation.stack import DEFAULT_REGION, STATE_FILE, LocalStack
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


def test_credentials_reach_the_functions_as_secrets_of_the_local_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = "postgresql://leaim:s3cret-password@127.0.0.1:5432/leaim"
    pii_key = "a-local-pii-key-of-at-least-thirty-two-bytes"
    # One credential given to the stack, one in this process's environment: neither reaches a function as a value.
    monkeypatch.setenv("LEAIM_PII_TOKEN_KEY", pii_key)
    with LocalStack(
        FIXTURES / "environments.yaml",
        state_dir=tmp_path,
        stack_name="secrets",
        environment={"LEAIM_DATABASE_URL": database_url, "FIXTURE_EXTRA": "local"},
    ) as stack:
        secrets = boto3.session.Session(region_name=stack.region).client("secretsmanager")
        arns = set()
        for function_id in ("FirstFunction", "SecondFunction"):
            environment = stack.function_environment(function_id)
            assert {"LEAIM_DATABASE_URL", "LEAIM_PII_TOKEN_KEY"}.isdisjoint(environment)
            assert not any(secret in value for value in environment.values() for secret in ("s3cret", pii_key))
            assert environment["FIXTURE_EXTRA"] == "local"
            for variable, value in (
                ("LEAIM_DATABASE_SECRET_ARN", database_url),
                ("LEAIM_PII_TOKEN_KEY_SECRET_ARN", pii_key),
            ):
                arn = environment[variable]
                arns.add(arn)
                assert arn.startswith(f"arn:aws:secretsmanager:{stack.region}:123456789012:secret:secrets-")
                assert secrets.get_secret_value(SecretId=arn)["SecretString"] == value
                answer = stack.invoke(
                    function_id, {"resource": "/v1/secrets/{variable}", "pathParameters": {"variable": variable}}
                )
                assert answer == {"statusCode": 200, "body": value}
        assert len(arns) == 2, "one secret per credential, shared by every function"
    # Removed on stop (moto keeps one Secrets Manager per process, behind every endpoint): the next start puts them.
    endpoint = LocalEndpoint()
    endpoint.start()
    try:
        left = local_session(DEFAULT_REGION).client("secretsmanager", endpoint_url=endpoint.url).list_secrets()
    finally:
        endpoint.stop()
    assert arns.isdisjoint(secret["ARN"] for secret in left["SecretList"])


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
