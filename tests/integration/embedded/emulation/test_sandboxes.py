"""Each function runs in its own pool of sandbox processes, as Lambda runs it: warm, concurrent, limited, replaced."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from embedded.emulation.exceptions import FunctionError, FunctionThrottledError, FunctionTimeoutError
from embedded.emulation.stack import LocalStack
from tests.integration.embedded.emulation.conftest import FIXTURES, wait_for

if TYPE_CHECKING:
    from collections.abc import Iterator

SANDBOXES = FIXTURES / "sandboxes.yaml"
WARM_MODULE = "tests.integration.embedded.emulation.fixture_functions.warm.app"


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(SANDBOXES, state_dir=tmp_path_factory.mktemp("sandboxes"), stack_name="sandboxes") as running:
        yield running


def _describe(stack: LocalStack, **request: Any) -> dict[str, Any]:
    described: dict[str, Any] = stack.invoke("WarmFunction", request)
    return described


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _post(stack: LocalStack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{stack.api_url}/describe", data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _hold_both_sandboxes(stack: LocalStack, seconds: float) -> list[threading.Thread]:
    """Keep both of WarmFunction's sandboxes busy for `seconds`, returning once they are."""
    busy_before = stack.stats.functions["WarmFunction"].busy
    threads = [threading.Thread(target=_describe, args=(stack,), kwargs={"sleep": seconds}) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_for(lambda: stack.stats.functions["WarmFunction"].busy == busy_before + 2, what="two busy sandboxes")
    return threads


def test_a_warm_sandbox_keeps_its_state_and_sees_its_function_and_context(sandboxes: LocalStack) -> None:
    first = _describe(sandboxes)
    second = _describe(sandboxes)
    assert (second["pid"], second["sandbox"]) == (first["pid"], first["sandbox"])
    assert second["invocations"] == first["invocations"] + 1
    assert second["request_id"] != first["request_id"]
    assert first["pid"] != os.getpid()
    assert (first["function_name"], first["arn"], first["memory"]) == (
        "sandboxes-WarmFunction",
        "arn:aws:lambda:us-east-1:123456789012:function:sandboxes-WarmFunction",
        "512",
    )
    assert 0 < first["remaining_ms"] <= 5000
    environment = first["environment"]
    assert environment["FIXTURE_ONLY_WARM"] == "warm"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "sandboxes-WarmFunction"
    assert environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert environment["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/sandboxes-WarmFunction"
    assert environment["AWS_LAMBDA_LOG_STREAM_NAME"] == first["log_stream_name"]
    assert environment["_HANDLER"] == "app.lambda_handler"


def test_concurrent_invocations_run_in_as_many_sandboxes_up_to_the_reserved_concurrency(
    sandboxes: LocalStack,
) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        described = list(pool.map(lambda _: _describe(sandboxes, sleep=0.5), range(2)))
    assert len({d["pid"] for d in described}) == 2
    threads = _hold_both_sandboxes(sandboxes, 1.5)
    throttles = sandboxes.stats.functions["WarmFunction"].throttles
    with pytest.raises(FunctionThrottledError, match="WarmFunction has 2 concurrent executions in use"):
        _describe(sandboxes)
    for thread in threads:
        thread.join()
    stats = sandboxes.stats.functions["WarmFunction"]
    assert (stats.concurrency_limit, stats.sandboxes, stats.throttles) == (2, 2, throttles + 1)
    assert stats.cold_starts == 2
    assert stats.init_s > 0


def test_a_function_with_no_reserved_concurrency_is_always_throttled(sandboxes: LocalStack) -> None:
    with pytest.raises(FunctionThrottledError):
        sandboxes.invoke("DisabledFunction", {})
    assert sandboxes.stats.functions["DisabledFunction"].sandboxes == 0


def test_the_gateway_serves_requests_in_parallel_sandboxes_and_answers_a_throttle_as_api_gateway_does(
    sandboxes: LocalStack,
) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: _post(sandboxes, {"sleep": 0.5}), range(2)))
    assert [status for status, _ in answers] == [200, 200]
    assert len({body["pid"] for _, body in answers}) == 2
    threads = _hold_both_sandboxes(sandboxes, 1.5)
    throttles = sandboxes.stats.functions["WarmFunction"].throttles
    status, body = _post(sandboxes, {})
    for thread in threads:
        thread.join()
    # A proxy integration cannot pass on Lambda's 429: API Gateway answers an internal error.
    assert (status, body) == (500, {"message": "Internal server error"})
    assert sandboxes.stats.functions["WarmFunction"].throttles == throttles + 1
    assert sandboxes.stats.api[500] >= 1


def test_a_poller_tries_a_throttled_batch_again_without_counting_a_failure(sandboxes: LocalStack) -> None:
    # Held for most of the timeout: the poller's long poll and its invocation must fall inside the hold.
    threads = _hold_both_sandboxes(sandboxes, 4.0)
    sqs = boto3.session.Session(region_name=sandboxes.region).client("sqs")
    queue_url = sandboxes.queue_url("WorkQueue")
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
    wait_for(lambda: sandboxes.stats.pollers["WarmFunction.Work"].throttles, what="a throttled delivery")
    for thread in threads:
        thread.join()
    wait_for(lambda: sandboxes.stats.pollers["WarmFunction.Work"].invocations, what="the delivery once unthrottled")
    stats = sandboxes.stats.pollers["WarmFunction.Work"]
    assert (stats.errors, stats.failures) == (0, 0)

    def deleted() -> bool:
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return set(attributes.values()) == {"0"}

    assert wait_for(deleted, what="the message deleted")


# Invocations made one after another go to the most recently used sandbox, so the next one reuses this one's.


def test_an_error_comes_back_as_lambda_reports_it_and_the_sandbox_stays_warm(sandboxes: LocalStack) -> None:
    before = _describe(sandboxes)
    with pytest.raises(FunctionError, match="ValueError: refused on purpose") as raised:
        _describe(sandboxes, **{"raise": "refused on purpose"})
    assert (raised.value.error_type, raised.value.error_message) == ("ValueError", "refused on purpose")
    assert any("fixture_functions/warm/app.py" in line for line in raised.value.stack_trace)
    after = _describe(sandboxes)
    assert (after["sandbox"], after["invocations"]) == (before["sandbox"], before["invocations"] + 2)


def test_a_sandbox_that_exits_is_replaced_by_a_cold_one(sandboxes: LocalStack) -> None:
    victim = _describe(sandboxes)["pid"]
    with pytest.raises(FunctionError, match="Runtime exited with error: exit status 3") as raised:
        _describe(sandboxes, exit=3)
    assert raised.value.error_type == "Runtime.ExitError"
    assert not _alive(victim)
    stats = sandboxes.stats.functions["WarmFunction"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        described = list(pool.map(lambda _: _describe(sandboxes, sleep=0.3), range(2)))
    assert victim not in {d["pid"] for d in described}
    assert sandboxes.stats.functions["WarmFunction"].cold_starts == stats.cold_starts + 2 - stats.sandboxes
    # A new sandbox starts from its init: nothing of the one that died is in it.
    assert min(d["invocations"] for d in described) == 1


def test_a_handler_past_its_timeout_has_its_sandbox_stopped(sandboxes: LocalStack) -> None:
    victim = _describe(sandboxes)["pid"]
    with pytest.raises(FunctionTimeoutError, match=r"sandboxes-WarmFunction \(.*\) timed out after 5 seconds"):
        _describe(sandboxes, sleep=10)
    assert not _alive(victim)
    assert _describe(sandboxes)["pid"] != victim


def test_what_a_function_prints_reaches_this_process_before_its_result(
    sandboxes: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    _describe(sandboxes, print="to the log", warn="to stderr")
    captured = capsys.readouterr()
    assert captured.out == "to the log\n"
    assert captured.err == "to stderr\n"


def test_results_are_marshalled_as_lambda_marshals_them(sandboxes: LocalStack) -> None:
    assert _describe(sandboxes, answer="decimal") == {"amount": 12.5, "count": 3}
    with pytest.raises(FunctionError, match=r"Runtime\.MarshalError: Unable to marshal response") as raised:
        _describe(sandboxes, answer="set")
    assert raised.value.error_type == "Runtime.MarshalError"
    with pytest.raises(ValueError, match="the event for WarmFunction is not JSON"):
        sandboxes.invoke("WarmFunction", {"when": object()})


@pytest.mark.parametrize(
    ("logical_id", "error_type", "message"),
    [
        (
            "BrokenFunction",
            "RuntimeError",
            "the fixture module fails at import",
        ),
        (
            "MissingHandlerFunction",
            "Runtime.HandlerNotFound",
            f"Handler 'no_such_handler' missing on module '{WARM_MODULE}'",
        ),
    ],
)
def test_a_failed_init_is_the_invocations_error_and_is_tried_again_next_time(
    sandboxes: LocalStack, logical_id: str, error_type: str, message: str
) -> None:
    for attempt in (1, 2):
        with pytest.raises(FunctionError) as raised:
            sandboxes.invoke(logical_id, {})
        assert (raised.value.error_type, raised.value.error_message) == (error_type, message)
        stats = sandboxes.stats.functions[logical_id]
        assert (stats.sandboxes, stats.cold_starts) == (0, attempt)
