"""kill -9 the whole stack: `leaim up` in a process group of its own, killed under traffic, started again.

The stack keys itself as `leaim up` does and the reference model is trained through its API; records are
ingested through the API and decisions sent at a steady rate; then SIGKILL goes to its whole process group at
once (the stack, its workers and sandboxes, as a machine losing power would end them) and `leaim up --no-train`
starts again on the same state directory and port. The traffic keeps the API key it had: a stack that forgot
its keys refuses it.

Afterwards every decision answered before and after the kill must be readable and audited once, and the
records ingested before the kill must still be known: sent again, every one counts as a duplicate.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedded.chaos.checks import TrailEvent, examine, fallbacks_normal, recovery_seconds
from embedded.chaos.exceptions import ChaosError
from embedded.chaos.scenarios import BURST, DECISION_FUNCTION
from embedded.chaos.traffic import SteadyTraffic, read_back
from embedded.chaos.training import StackApi, train
from embedded.clients.http import Sent, send
from embedded.synthetic import CardFraudGenerator, sample_records
from embedded.world import REFERENCE_DATASET, REFERENCE_USE_CASE
from leaim.adapters.sql import SqlAuditLog, create_engine_for
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from embedded.chaos.run import SuiteResult

STACK_KILL_NAME = "kill -9 the whole stack"
READY_LINE = "Ctrl-C stops the stack."
# How long `leaim up --no-train` may take to be ready, the first time and after the kill.
FIRST_START_S = 300.0
RESTART_S = 300.0
INGESTED_RECORDS = 200
# How long the audit trail is given to show every decision answered, once the stack is back.
TRAIL_WAIT_S = 120.0
# `leaim up` seeds the online features of these cards (its world's seed plus one).
UP_CARDS_SEED = 8
UP_CARDS = 500


class StackKill:
    """The fault, with the traffic it runs under."""

    does = (
        "SIGKILL to the process group of a `leaim up` (the stack, its workers and sandboxes at once) under "
        "traffic, then `leaim up --no-train` again on the same state directory and port; records ingested before "
        "the kill are sent again afterwards, and must all count as duplicates."
    )

    def __init__(self, *, rate: float, before_s: float, training_rows: int) -> None:
        self.rate = rate
        self.before_s = before_s
        self.training_rows = training_rows

    def run(self, result: SuiteResult) -> None:
        """Run the fault; its row (and what else it saw) added to `result`."""
        with tempfile.TemporaryDirectory(prefix="leaim-chaos-up-") as directory:
            state_dir = Path(directory)
            port = _free_port()
            log = (state_dir / "up.log").open("ab")
            try:
                self._run(state_dir, port, log, result)
            finally:
                log.close()

    def _run(self, state_dir: Path, port: int, log: Any, result: SuiteResult) -> None:
        up = _start_up(state_dir, port, log)
        api_url = f"http://127.0.0.1:{port}"
        manifest = ManifestCatalog.from_directory(None).get(REFERENCE_USE_CASE)
        try:
            _wait_ready(up, state_dir, FIRST_START_S)
            keys = json.loads((state_dir / "api-keys.json").read_text(encoding="utf-8"))
            train(StackApi(api_url, keys), manifest, self.training_rows, seed=UP_CARDS_SEED - 1)
        except (TimeoutError, ChaosError) as error:
            _kill_group(up)
            result.skipped[STACK_KILL_NAME] = str(error)
            return
        records = sample_records(manifest, INGESTED_RECORDS, 0, seed=31, now=datetime.now(UTC))
        stored = _ingest(api_url, keys["data_producer"], records).get("stored", 0)
        generator = CardFraudGenerator(manifest, seed=UP_CARDS_SEED)
        inputs = [dict(t.inputs) for t in generator.transactions(200, generator.cards(UP_CARDS))]
        since = datetime.now(UTC) - timedelta(seconds=1)
        prefix = f"chaos-up-{os.getpid()}-{int(time.time())}"
        traffic = SteadyTraffic(
            api_url, keys["decision_client"], REFERENCE_USE_CASE, inputs, rate=self.rate, prefix=prefix
        )
        traffic.start()
        time.sleep(self.before_s)
        traffic.redeliver(BURST)
        time.sleep(1.0)
        injected_at = time.monotonic()
        _kill_group(up)
        ended_at = time.monotonic()
        up = _start_up(state_dir, port, log)
        try:
            restarted = _wait_ready(up, state_dir, RESTART_S)
        except TimeoutError as error:
            result.notes.append(f"{STACK_KILL_NAME}: {error}")
            restarted = False
        try:
            baseline = [e for e in traffic.exchanges if e.sent_at < injected_at]
            normal_fallbacks = fallbacks_normal(baseline)
            deadline = time.monotonic() + 60.0
            while (
                restarted
                and recovery_seconds(traffic.exchanges, ended_at, fallbacks_are_normal=normal_fallbacks) is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)
            traffic.redeliver(BURST)
            time.sleep(1.0)
            exchanges = traffic.stop()
            again = _ingest(api_url, keys["data_producer"], records) if restarted else {}
            forgotten = max(0, stored - int(again.get("duplicates", 0)))
            decided = sorted({e.decision_id for e in exchanges if e.decided and e.decision_id is not None})
            readable = read_back(api_url, keys["auditor"], decided) if restarted else set()
            events = _trail(state_dir, since, prefix, {e.trace_id for e in exchanges if e.decided and e.trace_id})
        finally:
            _stop(up)
        row = examine(
            STACK_KILL_NAME,
            exchanges,
            events,
            readable=readable,
            fault_ended_at=ended_at,
            fallbacks_are_normal=normal_fallbacks,
            records_lost=[f"{forgotten} of {stored} ingested records"] if forgotten else [],
        )
        result.rows.append(row)
        result.notes += [f"{STACK_KILL_NAME}: {example}" for example in row.examples]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _start_up(state_dir: Path, port: int, log: Any) -> subprocess.Popen[bytes]:
    """`leaim up --no-train` on `state_dir` and `port`, in a process group of its own."""
    command = [
        sys.executable,
        "-c",
        "from embedded.cli import main; main()",
        "--state-dir",
        str(state_dir),
        "up",
        "--port",
        str(port),
        "--no-train",
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, start_new_session=True)


def _wait_ready(up: subprocess.Popen[bytes], state_dir: Path, limit_s: float) -> bool:
    """Read `leaim up`'s output until it says it is ready; TimeoutError when it does not within `limit_s`."""
    assert up.stdout is not None
    found = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert up.stdout is not None
        for raw in up.stdout:
            lines.append(raw.decode("utf-8", "replace").rstrip())
            if READY_LINE in lines[-1]:
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(limit_s) or not any(READY_LINE in line for line in lines):
        said = " / ".join(lines[-3:])
        raise TimeoutError(f"`leaim up` on {state_dir} was not ready within {limit_s:g} s (it said: {said})")
    return True


def _kill_group(up: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(up.pid, signal.SIGKILL)
    up.wait()


def _stop(up: subprocess.Popen[bytes]) -> None:
    """Stop `leaim up` as Ctrl-C does, and its group with SIGKILL when it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(up.pid, signal.SIGINT)
    try:
        up.wait(timeout=60)
    except subprocess.TimeoutExpired:
        _kill_group(up)


def _ingest(api_url: str, api_key: str, records: list[Any]) -> dict[str, Any]:
    body = json.dumps({"contract_version": "v1", "records": records}).encode()
    request = Sent("ingest", "POST", f"/v1/ingest/{REFERENCE_DATASET}", body, {"x-api-key": api_key})
    try:
        answer = send(api_url, request, 60)
    except OSError:
        return {}
    return answer.body if answer.status == 200 else {}


def _trail(state_dir: Path, since: datetime, prefix: str, traces: set[str]) -> list[TrailEvent]:
    """The decision API's events of the traffic, once the trail shows every answered trace or the wait is over."""
    log = SqlAuditLog(create_engine_for(f"sqlite:///{state_dir / 'leaim.db'}"))
    deadline = time.monotonic() + TRAIL_WAIT_S
    while True:
        events = [
            TrailEvent(event.trace_id, event.request_id, event.decision_id, event.outcome)
            for event in log.events(AuditQuery(source=DECISION_FUNCTION, since=since), limit=1_000_000)
            if event.request_id is None or event.request_id.startswith(prefix)
        ]
        if traces <= {event.trace_id for event in events} or time.monotonic() > deadline:
            return events
        time.sleep(2.0)
