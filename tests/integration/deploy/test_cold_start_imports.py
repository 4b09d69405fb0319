"""Cold starts load only what their function uses: the statistics (numpy), the model runtime and the signing
library stay out of the functions that never call them, and the decision functions load no SQL at all.

The decision functions build their services at init (before SnapStart's snapshot), so their modules are
imported here with the settings a deployed function has.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import REPOSITORY

HEAVY = ("numpy", "onnxruntime", "sklearn", "modal", "cryptography")
SQL = ("sqlalchemy", "sqlmodel", "psycopg")
FUNCTIONS = REPOSITORY / "functions"
# The drift monitor's statistics are numpy's; every other function goes without it.
LEAN_FUNCTIONS = sorted(app.parent.name for app in FUNCTIONS.glob("*/app.py") if app.parent.name != "drift_monitor")
DECISION_FUNCTIONS = ("decision_api", "decision_queue")
# What a decision function's init reads; no AWS call is made before the first request.
DEPLOYED = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "LEAIM_ACCEPTED_TABLE": "accepted",
    "LEAIM_TRAFFIC_TABLE": "traffic",
    "LEAIM_FEATURES_TABLE": "features",
    "LEAIM_API_KEYS_TABLE": "api-keys",
    "LEAIM_IDEMPOTENCY_TABLE": "idempotency",
    "LEAIM_RESULTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/results",
    "LEAIM_DECISION_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    "LEAIM_PII_TOKEN_KEY": "a-local-key-of-at-least-thirty-two-bytes",
}


def loaded(function: str, names: tuple[str, ...], **environment: str) -> list[str]:
    """Which of `names` importing the function's module loads, in a fresh process with `environment`."""
    probe = (
        f"import sys, functions.{function}.app\n"
        f"print(','.join(sorted(name for name in {names!r} if name in sys.modules)))"
    )
    env = {**os.environ, **DEPLOYED, **environment}
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return [name for name in completed.stdout.strip().split(",") if name]


@pytest.mark.parametrize("function", LEAN_FUNCTIONS)
def test_a_function_module_loads_no_heavy_library_it_does_not_use(function: str) -> None:
    assert loaded(function, HEAVY, LEAIM_WORKER_BACKEND="local") == []


@pytest.mark.parametrize("function", DECISION_FUNCTIONS)
def test_a_decision_function_loads_no_sql_library(function: str) -> None:
    assert loaded(function, SQL, LEAIM_WORKER_BACKEND="local") == []


@pytest.mark.parametrize("function", DECISION_FUNCTIONS)
def test_a_decision_function_on_modal_imports_the_modal_client_at_init(function: str) -> None:
    # Outside any request: the first decision's deadline must not pay for the import.
    assert loaded(function, ("modal", *SQL), LEAIM_WORKER_BACKEND="modal") == ["modal"]
