"""Cold starts load only what their function uses: the statistics (numpy), the model runtime and the signing
library stay out of the functions that never call them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPOSITORY

HEAVY = ("numpy", "onnxruntime", "sklearn", "modal", "cryptography")
FUNCTIONS = REPOSITORY / "functions"
# The drift monitor's statistics are numpy's; every other function goes without it.
LEAN_FUNCTIONS = sorted(app.parent.name for app in FUNCTIONS.glob("*/app.py") if app.parent.name != "drift_monitor")


@pytest.mark.parametrize("function", LEAN_FUNCTIONS)
def test_a_function_module_loads_no_heavy_library_it_does_not_use(function: str) -> None:
    probe = (
        f"import sys, functions.{function}.app\n"
        f"print(','.join(sorted(name for name in {HEAVY!r} if name in sys.modules)))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert completed.stdout.strip() == ""
