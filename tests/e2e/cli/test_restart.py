"""`leaim up` killed with `kill -9` and started again on the same state directory has lost nothing it stored."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from embedded.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

READY = "Ctrl-C stops the stack."
LEAIM = [sys.executable, "-c", "from embedded.cli import main; main()"]
ROWS, BAD = 200, 8


def leaim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Up:
    """`leaim up` in its own process group, so that one signal reaches it and every process it started."""

    def __init__(self, state_dir: Path, log: Path) -> None:
        self.state_dir, self.log = state_dir, log
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [*LEAIM, "--state-dir", str(self.state_dir), "up", "--no-train", "--port", str(self.port)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while READY not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"leaim up did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=60)
        self.process = None


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "state", tmp_path / "up.log")
    yield running
    running.kill()


def _row(out: str, label: str) -> int:
    match = re.search(rf"{label}\s*│\s*(\d+)", out)
    assert match is not None, out
    return int(match.group(1))


def test_a_stack_killed_with_kill_9_keeps_records_ledger_snapshots_and_the_audit_archive(
    up: Up, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    state = ["--state-dir", str(up.state_dir)]
    records = tmp_path / "transactions.jsonl"
    status, _, err = leaim(capsys, *state, "sample-data", str(records), "--rows", str(ROWS), "--bad", str(BAD))
    assert status == 0, err
    up.start()
    status, out, err = leaim(capsys, *state, "ingest", str(records), "--dataset", "transactions")
    assert status == 0, err
    stored = _row(out, "stored")
    assert stored == ROWS
    status, out, err = leaim(capsys, *state, "snapshot", "transactions")
    assert status == 0, err
    snapshot = re.search(r"transactions-\d{8}T\d+-[0-9a-f]{8}", out)
    assert snapshot is not None, out
    status, out, err = leaim(capsys, *state, "audit", "digest")
    assert status == 0, err

    up.kill()
    up.start()

    status, out, err = leaim(capsys, *state, "ingest", str(records), "--dataset", "transactions")
    assert status == 0, err
    # The ingest ledger survived: every record stored before is counted as a duplicate, none stored again.
    assert _row(out, "duplicates") == stored
    status, out, err = leaim(capsys, *state, "snapshots", "transactions")
    assert status == 0, err
    assert snapshot.group(0)[:24] in out.replace("\n", "")
    status, out, err = leaim(capsys, *state, "audit", "verify")
    assert status == 0, err + out
    assert "audit trail intact" in out
    assert "archived copies checked" in out
