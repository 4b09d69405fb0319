"""`leaim demo`, the README's main command, with less traffic: every phase runs and reconciles, every time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

STEPS = ("controller: advance", "workers refused the artifact", "controller: rollback", "409 version_rejected")
LEAIM = (sys.executable, "-c", "from embedded.cli import main; main()")
SMALLER = ("--training-rows", "5000", "--requests", "60", "--queue-messages", "20", "--ingest-records", "300")


def leaim_demo(state_dir: Path) -> subprocess.CompletedProcess[str]:
    """`leaim demo` with less traffic, in a process of its own as each run from a shell is."""
    return subprocess.run(
        [*LEAIM, "--state-dir", str(state_dir), "demo", *SMALLER],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "COLUMNS": "200"},
    )


def dead_letter_lines(state_dir: Path) -> list[dict[str, object]]:
    """The decision queue function's log lines of the messages it dead-lettered, from the functions' log file."""
    lines = (state_dir / "functions.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if '"message":"message dead-lettered"' in line]


def test_the_demo_passes_again_on_the_state_an_earlier_run_left(tmp_path: Path) -> None:
    # The second run finds the first run's decisions, records, versions and whatever the state directory kept of
    # the AWS endpoint's queues, tables and objects: it must count only its own, and pass as the first did.
    for number, run in enumerate(("first", "second"), start=1):
        demo = leaim_demo(tmp_path)
        output = demo.stdout + demo.stderr
        assert demo.returncode == 0, f"{run} run:\n{output}"
        assert "Every invocation has its audit event." in output
        for step in STEPS:
            assert step in output, f"{run} run:\n{output}"
        # Poison messages and refused records are expected: each is one log line, never a traceback.
        assert "Traceback" not in output, f"{run} run:\n{output}"
        # Two of the twenty queue messages are poison: one line each names it and its reason when it is dead-lettered.
        lines = dead_letter_lines(tmp_path)
        assert len(lines) == 2 * number
        assert all(line["message_id"] and line["reason"] for line in lines)
