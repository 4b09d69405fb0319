"""Run the open-loop generator in a process of its own and read back what it saw.

The generator runs under gevent (Locust patches the standard library when it is imported), and it must not
share an interpreter, or its lock, with the server it measures; so it gets a fresh Python process, the plan
as a JSON file, and writes its runs to another.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from embedded.load.exceptions import LoadGeneratorError
from embedded.load.plan import GeneratorRun

if TYPE_CHECKING:
    from embedded.load.plan import LoadPlan

GENERATOR_MODULE = "embedded.load.generator"
# The generator's own start (importing Locust) and its end, on top of the plan's longest run.
STARTUP_S = 60.0
OUTPUT_TAIL = 2_000


def run_generator(plan: LoadPlan) -> GeneratorRun:
    """Run `plan` in a fresh process; `LoadGeneratorError` with the end of its output when it fails or overruns."""
    with tempfile.TemporaryDirectory(prefix="leaim-load-") as directory:
        plan_path, runs_path = Path(directory) / "plan.json", Path(directory) / "runs.json"
        plan.write(plan_path)
        limit_s = plan.longest_s + STARTUP_S
        try:
            finished = subprocess.run(
                [sys.executable, "-m", GENERATOR_MODULE, str(plan_path), str(runs_path)],
                capture_output=True,
                text=True,
                timeout=limit_s,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise LoadGeneratorError(f"the load generator ran past {limit_s:.0f} s") from error
        if finished.returncode != 0:
            output = (finished.stderr or finished.stdout).strip()[-OUTPUT_TAIL:]
            raise LoadGeneratorError(f"the load generator exited with status {finished.returncode}: {output}")
        return GeneratorRun.read(runs_path)
