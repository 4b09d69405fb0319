from __future__ import annotations

import json
import re
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from embedded.emulation.exceptions import FunctionError
from embedded.emulation.pollers import PollerStats, Schedule, SchedulePoller
from embedded.emulation.stack import LocalStack
from tests.integration.embedded.emulation.conftest import FIXTURES, wait_for

if TYPE_CHECKING:
    from pathlib import Path

SCHEDULE_TEMPLATE = FIXTURES / "schedule.yaml"
ACCOUNT = "123456789012"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _recorded(stack: LocalStack) -> dict[str, Any]:
    """Every event the ticker recorded, by the request id of the invocation that got it."""
    table = boto3.session.Session(region_name=stack.region).resource("dynamodb").Table(stack.table_name("TicksTable"))
    return {str(item["pk"]): json.loads(str(item["event"])) for item in table.scan(ConsistentRead=True)["Items"]}


def _assert_rule_event(event: dict[str, Any], rule_arn: str) -> None:
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert {key: value for key, value in event.items() if key not in {"id", "time"}} == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "region": "us-east-1",
        "resources": [rule_arn],
        "detail": {},
    }
    assert TIME.fullmatch(event["time"])


def _schedule_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("TickerFunction.")]


def test_enabled_schedules_fire_every_interval_with_the_scheduled_event(tmp_path: Path) -> None:
    with LocalStack(SCHEDULE_TEMPLATE, state_dir=tmp_path, stack_name="fast", schedule_interval_s=0.3) as stack:
        pollers = stack.stats.pollers
        assert set(pollers) == {"TickerFunction.Tick", "TickerFunction.Failing"}
        assert [p.invocations for p in pollers.values()] == [0, 0], "the first run comes one interval after start"

        def four_ticks() -> list[dict[str, Any]] | None:
            ticks = [event for event in _recorded(stack).values() if "source" in event]
            return ticks if len(ticks) >= 4 else None

        fired = wait_for(four_ticks, what="four scheduled events")
        for event in fired:
            _assert_rule_event(event, f"arn:aws:events:us-east-1:{ACCOUNT}:rule/fast-TickerFunctionTick")
        assert len({event["id"] for event in fired}) == len(fired)

        def dropped() -> PollerStats | None:
            stats = stack.stats.pollers["TickerFunction.Failing"]
            return stats if stats.discarded else None

        failing = wait_for(dropped, what="a failing run to be dropped")
        # Each dropped run was tried once and retried twice, every attempt with the schedule's Input.
        assert failing.errors >= 3 * failing.discarded
        assert list(_recorded(stack).values()).count({"fail": True}) >= 3
        ticked = stack.stats.pollers["TickerFunction.Tick"].invocations
        wait_for(lambda: stack.stats.pollers["TickerFunction.Tick"].invocations > ticked, what="ticks after a failure")
        assert stack.stats.pollers["TickerFunction.Tick"].errors == 0
        stack.stop()
        assert _schedule_threads() == []


def test_run_schedule_sends_what_each_schedule_sends(tmp_path: Path) -> None:
    with LocalStack(SCHEDULE_TEMPLATE, state_dir=tmp_path, stack_name="rates") as stack:
        tick = stack.run_schedule("TickerFunction", "Tick")
        _assert_rule_event(
            _recorded(stack)[tick["request_id"]], f"arn:aws:events:us-east-1:{ACCOUNT}:rule/rates-TickerFunctionTick"
        )
        paused_run = stack.run_schedule("TickerFunction", "Paused")
        paused = _recorded(stack)[paused_run["request_id"]]
        assert {key: paused[key] for key in ("source", "detail-type", "resources", "detail")} == {
            "source": "aws.scheduler",
            "detail-type": "Scheduled Event",
            "resources": [f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/fixtures/rates-TickerFunctionPaused"],
            "detail": "{}",
        }
        with pytest.raises(FunctionError, match="RuntimeError: the scheduled input asks the fixture handler to fail"):
            stack.run_schedule("TickerFunction", "Failing")
        with pytest.raises(KeyError, match=r"several schedule events \(Tick, Failing, Paused\); name one"):
            stack.run_schedule("TickerFunction")
        with pytest.raises(KeyError, match="has no schedule event Nightly"):
            stack.run_schedule("TickerFunction", "Nightly")
        with pytest.raises(KeyError, match="QuietFunction has no Schedule or ScheduleV2 event"):
            stack.run_schedule("QuietFunction")
        # The template's rates are a minute and more away: nothing fired on its own, and stop does not wait for it.
        assert [p.invocations for p in stack.stats.pollers.values()] == [0, 0]
        started = time.monotonic()
        stack.stop()
        assert time.monotonic() - started < 5
        assert _schedule_threads() == []


def test_schedule_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="schedule_interval_s must be positive"):
        LocalStack(SCHEDULE_TEMPLATE, state_dir=tmp_path, schedule_interval_s=0)


def test_schedule_input_is_parsed_afresh_for_every_run() -> None:
    schedule = Schedule(arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r", interval_s=60, input_json='{"n": [1]}')
    first = schedule.event()
    first["n"].append(2)
    assert schedule.event() == {"n": [1]}


class AlwaysFailing:
    """A function whose every invocation fails, noting when it was invoked."""

    logical_id = "Flaky"
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:flaky"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def invoke(self, event: Any) -> Any:
        self.calls.append(time.monotonic())
        raise FunctionError("RuntimeError", "always fails")


def test_poller_keeps_firing_past_a_handler_that_raises() -> None:
    function = AlwaysFailing()
    calls = function.calls
    poller = SchedulePoller(
        "Flaky.Every", function, schedule=Schedule(arn=f"arn:aws:events:us-east-1:{ACCOUNT}:rule/r", interval_s=0.2)
    )
    started = time.monotonic()
    poller.start()
    try:
        wait_for(lambda: poller.stats.discarded >= 2, what="two dropped runs")
    finally:
        poller.stop()
    stats = poller.stats
    assert calls[0] - started >= 0.2
    assert (stats.records, stats.discarded) in {(2, 2), (3, 2)}
    assert stats.invocations == stats.errors >= 6


def test_with_schedules_off_nothing_fires_by_itself_but_a_run_on_demand_works(tmp_path: Path) -> None:
    with LocalStack(
        SCHEDULE_TEMPLATE, state_dir=tmp_path, stack_name="quiet", schedule_interval_s=0.1, run_schedules=False
    ) as stack:
        assert not any(name.startswith("TickerFunction.") for name in stack.stats.pollers)
        time.sleep(0.5)
        assert _recorded(stack) == {}
        tick = stack.run_schedule("TickerFunction", "Tick")
        assert set(_recorded(stack)) == {tick["request_id"]}
