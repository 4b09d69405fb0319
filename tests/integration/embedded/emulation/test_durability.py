"""What the local stack holds survives a `kill -9` and a restart on the same state directory."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import boto3
from moto.backends import get_backend
from moto.core.models import DEFAULT_ACCOUNT_ID

from embedded.emulation.aws import LocalEndpoint
from embedded.emulation.journal import CHECKPOINT_FILE, JOURNAL_FILE, DurableState, Journal, read_journal
from embedded.emulation.pollers import PollerState, Schedule, SchedulePoller
from embedded.emulation.stack import LocalStack
from tests.integration.embedded.emulation.conftest import TEMPLATE, entry_deliveries, wait_for

if TYPE_CHECKING:
    from pathlib import Path

CHILD = [sys.executable, "-m", "tests.support.durable"]


def _child(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHILD, *arguments], capture_output=True, text=True, timeout=120, check=False)


def test_everything_the_endpoint_answered_is_there_after_a_kill_9(tmp_path: Path) -> None:
    written = _child("write", str(tmp_path))
    assert written.returncode == -9, written.stderr
    assert written.stdout.strip() == "written"

    read = _child("read", str(tmp_path))

    assert read.returncode == 0, read.stderr
    state = json.loads(read.stdout)
    # The received message comes back with its receive count, still linked to its dead-letter queue.
    assert state["messages"] == [["first", "2"], ["second", "1"], ["third", "1"]]
    assert state["dead_letter_target"] == "work-dlq"
    # Puts, a delete, an update, a transaction (and a cancelled one that left nothing) and a batch write.
    assert state["items"] == [
        ["a", "1", "updated"],
        ["a", "2", "v2"],
        ["a", "3", "v3"],
        ["b", "1", None],
        ["c", "9", None],
    ]
    assert state["stream"] == [
        ["INSERT", "a"],
        ["INSERT", "a"],
        ["INSERT", "a"],
        ["INSERT", "a"],
        ["REMOVE", "a"],
        ["MODIFY", "a"],
        ["INSERT", "b"],
        ["INSERT", "c"],
    ]
    # Every version of an object, its delete marker, and a lock, as they were.
    assert state["versions"] == [
        ["deleted", False],
        ["dir/a file.txt", False],
        ["dir/a file.txt", True],
        ["locked", True],
    ]
    assert state["delete_markers"] == ["deleted"]
    assert state["latest"] == "two"
    assert state["lock"] == ["COMPLIANCE", "2035-01-01T00:00:00+00:00"]
    assert state["kinesis"] == ["record 0", "record 1", "record 2"]


def test_a_change_the_state_directory_cannot_hold_is_refused_before_it_is_applied(tmp_path: Path) -> None:
    full = _child("full", str(tmp_path), str(1_000_000))

    assert full.returncode == -9, full.stderr
    assert json.loads(full.stdout) == {"answer": "ServiceUnavailable", "applied": 0}
    assert "the state directory cannot hold journal.bin" in full.stderr


def test_a_torn_record_at_the_end_of_the_journal_is_dropped_and_the_records_before_it_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / JOURNAL_FILE, chunk_bytes=4096, reserve_bytes=1024)
    journal.ensure_room(0)
    journal.append([(("sqs-queue", "a", "b", "first"), b"one"), (("sqs-queue", "a", "b", "second"), None)])
    journal.append([(("sqs-queue", "a", "b", "third"), b"three")])
    journal.close()
    data = (tmp_path / JOURNAL_FILE).read_bytes()
    # A kill during the last write: only part of its record reached the file.
    (tmp_path / JOURNAL_FILE).write_bytes(data[:-3])

    records = list(read_journal(tmp_path / JOURNAL_FILE))

    assert records == [(("sqs-queue", "a", "b", "first"), b"one"), (("sqs-queue", "a", "b", "second"), None)]
    reopened = Journal(tmp_path / JOURNAL_FILE, chunk_bytes=4096, reserve_bytes=1024)
    reopened.ensure_room(0)
    reopened.append([(("sqs-queue", "a", "b", "fourth"), b"four")])
    reopened.close()
    assert [entity[3] for entity, _ in read_journal(tmp_path / JOURNAL_FILE)] == ["first", "second", "fourth"]


def test_a_restarted_stream_reader_resumes_after_its_checkpoint_and_tables_keep_their_items(tmp_path: Path) -> None:
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    name = f"restart-{uuid.uuid4().hex[:8]}"
    with LocalStack(TEMPLATE, state_dir=tmp_path, stack_name=name) as stack:
        session = boto3.session.Session(region_name=stack.region)
        _accept(session, stack, first)
        wait_for(lambda: entry_deliveries(session, stack, first) == 1, what="the first entry's delivery")

    with LocalStack(TEMPLATE, state_dir=tmp_path, stack_name=name) as stack:
        session = boto3.session.Session(region_name=stack.region)
        _accept(session, stack, second)
        wait_for(lambda: entry_deliveries(session, stack, second) == 1, what="the second entry's delivery")
        stack.settle_streams()
        # Read from the stream's start (TRIM_HORIZON) without its checkpoint, the first entry would come again.
        assert entry_deliveries(session, stack, first) == 1


def _accept(session: boto3.session.Session, stack: LocalStack, key: str) -> None:
    session.client("dynamodb").put_item(
        TableName=stack.table_name("EntriesTable"),
        Item={"pk": {"S": key}, "kind": {"S": "entry"}, "outcome": {"S": "approve"}},
    )


class Counting:
    """A function that counts its invocations."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def invoke(self, event: Any) -> Any:
        self.calls.append(time.monotonic())
        return None


def test_a_restarted_schedule_runs_one_interval_after_its_last_run_or_at_once_when_that_has_passed(
    tmp_path: Path,
) -> None:
    schedule = Schedule(arn="arn:aws:events:us-east-1:123456789012:rule/r", interval_s=600.0)
    overdue, recent = PollerState(tmp_path / "overdue.json"), PollerState(tmp_path / "recent.json")
    overdue.save({"last_run": time.time() - 900.0})
    recent.save({"last_run": time.time() - 1.0})
    late, on_time = Counting(), Counting()
    pollers = [
        SchedulePoller("Late.Every", late, schedule=schedule, state=overdue),
        SchedulePoller("OnTime.Every", on_time, schedule=schedule, state=recent),
    ]
    for poller in pollers:
        poller.start()
    try:
        wait_for(lambda: late.calls, what="the overdue run")
        time.sleep(0.5)
    finally:
        for poller in pollers:
            poller.stop()

    assert len(late.calls) == 1
    assert on_time.calls == []
    assert time.time() - overdue.load()["last_run"] < 60.0


def _dynamodb(url: str) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def test_a_table_change_journals_that_table_only_and_a_restore_leaves_other_tables_alone(tmp_path: Path) -> None:
    schema = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
    suffix = uuid.uuid4().hex[:8]
    other, kept, dropped = f"other-{suffix}", f"kept-{suffix}", f"dropped-{suffix}"
    memory, durable = LocalEndpoint(), LocalEndpoint(state_dir=tmp_path)
    memory.start()
    durable.start()
    try:
        # Another stack's table in the same process, served by an endpoint that keeps no state.
        _dynamodb(memory.url).create_table(TableName=other, **schema)
        dynamodb = _dynamodb(durable.url)
        for name in (kept, dropped):
            dynamodb.create_table(TableName=name, **schema)
        dynamodb.put_item(TableName=kept, Item={"pk": {"S": "a"}})
        dynamodb.delete_table(TableName=dropped)
    finally:
        durable.stop()
        memory.stop()
    tables = get_backend("dynamodb")[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    live = tables[other]

    state = DurableState(tmp_path)
    state.restore()
    state.close()

    # The other table is the object its own stream readers hold, not a copy taken by this endpoint's journal.
    assert tables[other] is live
    checkpoint = pickle.loads((tmp_path / CHECKPOINT_FILE).read_bytes())
    assert {entity[3] for entity in checkpoint if entity[0] == "dynamodb-table"} == {kept}
    assert [entity[3] for entity in checkpoint if entity[0] == "dynamodb-item"] == [kept]
