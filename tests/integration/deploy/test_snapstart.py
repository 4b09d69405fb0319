"""SnapStart: copies restored from one snapshot of a decision function must not share what a snapshot freezes.

A snapshot is taken after init, and every restore resumes a copy of its memory: here two forks of an initialised
process stand for two restores, each given back the random state frozen at the snapshot (a fork alone would not
do: Python re-seeds `random` in a forked child, a restored microVM is not forked). Without the restore hooks the
copies draw the same trace ids (OpenTelemetry's ids come from `random`) and keep the plans and keys cached before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.deploy.test_cold_start_imports import DEPLOYED

RESTORED_COPIES = """
import json, os, random, sys
import functions.{function}.app as function
from leaim.bootstrap import snapstart
import snapshot_restore_py

decisions = function.{decisions}
decisions.keys._cache["digest"] = (0.0, None)
decisions.router._cache["card_fraud"] = (0.0, None)
run_hooks = sys.argv[1] == "restore"
snapshot = random.getstate()
ids = []
for _ in range(2):
    read, write = os.pipe()
    if os.fork() == 0:
        random.setstate(snapshot)
        ran = snapstart.run_restore_hooks() if run_hooks else 0
        with decisions.runtime.telemetry.span("restored"):
            trace_id = decisions.runtime.telemetry.trace_id()
        os.write(write, json.dumps({{
            "trace_id": trace_id, "hooks": ran, "keys": len(decisions.keys._cache),
            "plans": len(decisions.router._cache),
            "before_snapshot": len(snapshot_restore_py.get_before_snapshot()),
        }}).encode())
        os._exit(0)
    os.close(write)
    ids.append(json.loads(os.read(read, 4096)))
    os.wait()
print(json.dumps(ids))
"""
FUNCTIONS = {"decision_api": "decisions", "decision_queue": "decisions"}


def restored(function: str, mode: str) -> list[dict[str, object]]:
    script = RESTORED_COPIES.format(function=function, decisions=FUNCTIONS[function])
    env = {**os.environ, **DEPLOYED, "LEAIM_WORKER_BACKEND": "local"}
    completed = subprocess.run(
        [sys.executable, "-c", script, mode], capture_output=True, text=True, check=True, env=env
    )
    copies: list[dict[str, object]] = json.loads(completed.stdout)
    return copies


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_restored_copies_draw_their_own_trace_ids_and_forget_what_was_cached(function: str) -> None:
    first, second = restored(function, "restore")

    assert first["trace_id"] != second["trace_id"]
    assert first["hooks"] == second["hooks"] == 1
    assert (first["keys"], first["plans"]) == (0, 0)
    assert first["before_snapshot"] == 1


def test_without_the_hooks_two_copies_would_share_their_trace_ids() -> None:
    first, second = restored("decision_api", "frozen")

    assert first["trace_id"] == second["trace_id"]
    assert (first["keys"], first["plans"]) == (1, 1)
