"""`leaim demo`, the README's main command, with less traffic: every phase runs and reconciles."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from embedded.demos.main import DemoOptions, run_demo
from embedded.world import WorldOptions

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_phase_and_finds_every_audit_event_again_on_the_same_state(tmp_path: Path) -> None:
    steps = ("controller: advance", "workers refused the artifact", "controller: rollback", "409 version_rejected")
    # The README's first command is run again on the state the first run left: it must pass every time. A second
    # `leaim demo` is a new process, whose AWS endpoint starts empty: here, in one process, it gets its own stack.
    for stack_name in ("e2e-demo", "e2e-demo-again"):
        options = DemoOptions(
            training_rows=5_000,
            http_requests=60,
            outage_requests=12,
            queue_messages=20,
            world=WorldOptions(state_dir=tmp_path, stack_name=stack_name, run_schedules=False),
        )
        output = io.StringIO()
        status = run_demo(options, Console(file=output, width=200))
        text = output.getvalue()
        assert status == 0, f"{stack_name}:\n{text}"
        assert "Every invocation has its audit event." in text
        for step in steps:
            assert step in text, text
