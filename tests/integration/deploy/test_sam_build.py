"""`sam build` output imports and answers like the deployed function: layers laid out as Lambda mounts them."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.support.paths import REPOSITORY

pytestmark = pytest.mark.slow

REPO_ROOT = REPOSITORY
EVENTS = Path(__file__).resolve().parent / "events"
INVOKE_SCRIPT = Path(__file__).resolve().parent / "lambda_invoke.py"
LAYERS = ("DependenciesLayer", "ContractsLayer", "CoreLayer")
API_FUNCTION = "DecisionApiFunction"
# Lambda's quota on a function and all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
BUILD_TIMEOUT_S = 900
AWS_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def sam_cli_version() -> str:
    """The aws-sam-cli version CI installs, read from .ci/run so that both use the same one."""
    match = re.search(r"^SAM_CLI_VERSION=([0-9][0-9.]*)$", (REPO_ROOT / ".ci/run").read_text(), re.MULTILINE)
    assert match, ".ci/run does not pin SAM_CLI_VERSION"
    return match.group(1)


def uv_executable() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not installed"
    return uv


def sam_command() -> list[str]:
    """`sam` from PATH, else the pinned aws-sam-cli run as an isolated uv tool (installed on first use)."""
    sam = shutil.which("sam")
    if sam:
        return [sam]
    return [uv_executable(), "tool", "run", "--from", f"aws-sam-cli=={sam_cli_version()}", "sam"]


def size_of(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `sam build` once for this module; a sam that cannot run fails the tests, it never skips them."""
    work = tmp_path_factory.mktemp("sam")
    # sam's python3.11 builder needs a python3.11 with pip on PATH; a seeded venv gives one on any machine.
    build_python = work / "python"
    subprocess.run(
        [uv_executable(), "venv", "--seed", "--python", "3.11", str(build_python)],
        check=True,
        capture_output=True,
        text=True,
    )
    environment = {
        **os.environ,
        **AWS_ENVIRONMENT,
        "SAM_CLI_TELEMETRY": "0",
        "PATH": os.pathsep.join([str(build_python / "bin"), os.environ.get("PATH", "")]),
    }
    environment.pop("VIRTUAL_ENV", None)
    output = work / "build"
    command = [
        *sam_command(),
        "build",
        "--template-file",
        str(REPO_ROOT / "template.yaml"),
        "--build-dir",
        str(output),
        "--parallel",
    ]
    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return output


def lambda_path(build_dir: Path, function_id: str) -> str:
    """The function's import path on Lambda: its code (/var/task), then the layers' python/ (/opt/python)."""
    return os.pathsep.join([str(build_dir / function_id), *(str(build_dir / layer / "python") for layer in LAYERS)])


def load_template() -> dict[str, Any]:
    template, problems = decode(str(REPO_ROOT / "template.yaml"))
    assert not problems, [str(problem) for problem in problems]
    return dict(template)


def api_routes(function_id: str) -> set[tuple[str, str]]:
    """(path template, method) of every Api event of the function."""
    events = load_template()["Resources"][function_id]["Properties"]["Events"]
    return {
        (event["Properties"]["Path"], event["Properties"]["Method"].upper())
        for event in events.values()
        if event["Type"] == "Api"
    }


def function_environment(function_id: str) -> dict[str, str]:
    """The variables the template gives the function, references resolved to test values."""
    template = load_template()
    parameters = template["Parameters"]
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **(template["Resources"][function_id]["Properties"].get("Environment") or {}).get("Variables", {}),
    }

    def resolve(value: Any) -> str:
        if isinstance(value, dict) and list(value) == ["Ref"]:
            name = value["Ref"]
            if name in parameters:
                return str(parameters[name].get("Default", f"test-{name}"))
            return f"leaim-test-{name}"
        assert isinstance(value, str | int), f"{function_id}: unsupported environment value {value!r}"
        return str(value)

    return {name: resolve(value) for name, value in variables.items()}


def shipped(layer: Path) -> set[str]:
    return {path.relative_to(layer).as_posix() for path in layer.rglob("*") if path.is_file()}


def tracked(folder: str) -> set[str]:
    listed = subprocess.run(["git", "ls-files", folder], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    parent = Path(folder).parent
    return {Path(name).relative_to(parent).as_posix() for name in listed.stdout.split()}


def test_core_layer_ships_exactly_the_leaim_folder_and_the_contracts_layer_the_contracts(build_dir: Path) -> None:
    core = build_dir / "CoreLayer" / "python"
    contracts = build_dir / "ContractsLayer" / "python"
    assert (core / "leaim" / "__init__.py").is_file()
    assert (core / "leaim" / "bootstrap" / "runtime.py").is_file()
    assert (contracts / "contracts" / "__init__.py").is_file()
    assert (contracts / "contracts" / "use_cases" / "card_fraud.yaml").is_file()
    assert shipped(core) == tracked("layers/core/leaim")
    assert shipped(contracts) == tracked("contracts")
    # What the layer shipped before the embedded default had its own package never comes back.
    assert not any(name.startswith(("leaim/local/", "leaim/cli", "leaim/bench")) for name in shipped(core))
    assert not list(core.rglob("__pycache__")) and not list(contracts.rglob("__pycache__"))


def test_layers_do_not_overwrite_each_other(build_dir: Path) -> None:
    # Lambda extracts every layer into the same /opt: a name in two layers would be silently replaced.
    contents = [{path.name for path in (build_dir / layer / "python").iterdir()} for layer in LAYERS]
    assert contents[0] and contents[1]
    assert not contents[0] & contents[1]


def test_function_and_layers_fit_lambda_size_limit(build_dir: Path) -> None:
    total = size_of(build_dir / API_FUNCTION) + sum(size_of(build_dir / layer) for layer in LAYERS)
    assert total < UNZIPPED_LIMIT_BYTES, f"{total / 2**20:.0f} MiB unzipped"


def test_gpu_runtime_is_not_in_the_lambda_artifact(build_dir: Path, tmp_path: Path) -> None:
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) is None else 1)"
    # numpy is there on purpose: the drift monitor bins live features with it.
    for module in ("onnxruntime", "sklearn", "moto"):
        result = subprocess.run(
            [sys.executable, "-S", "-c", probe, module],
            cwd=tmp_path,
            env={"PYTHONPATH": lambda_path(build_dir, API_FUNCTION), "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{module} is importable from the built function and layers"


@pytest.mark.parametrize(
    ("function", "event_file"),
    [
        (API_FUNCTION, "create_decision_without_api_key.json"),
        ("IngestApiFunction", "ingest_records_without_api_key.json"),
        ("LifecycleApiFunction", "create_training_job_without_api_key.json"),
    ],
)
def test_built_api_function_rejects_a_request_without_api_key_and_audits_it(
    build_dir: Path, tmp_path: Path, function: str, event_file: str
) -> None:
    event_path = EVENTS / event_file
    event = json.loads(event_path.read_text(encoding="utf-8"))
    context = event["requestContext"]
    assert (context["resourcePath"], context["httpMethod"]) in api_routes(function), "event of no template route"
    database = tmp_path / "audit.db"
    environment = {
        **function_environment(function),
        **AWS_ENVIRONMENT,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": lambda_path(build_dir, function),
        "LEAIM_DATABASE_URL": f"sqlite:///{database}",
        # Secrets Manager is not reachable from a test: the key is given directly instead of by secret ARN.
        "LEAIM_PII_TOKEN_KEY": "test-pii-token-key",
        "POWERTOOLS_METRICS_NAMESPACE": "LEAIM",
    }
    for name in ("LEAIM_PII_TOKEN_KEY_SECRET_ARN", "LEAIM_MODAL_TOKEN_SECRET_ARN"):
        environment.pop(name, None)
    response_path = tmp_path / "response.json"
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            str(INVOKE_SCRIPT),
            "app.app",
            str(event_path),
            str(response_path),
        ],
        cwd=build_dir / function,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"

    response = json.loads(response_path.read_text(encoding="utf-8"))
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"] == "unauthorized"

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT status_code, outcome FROM audit_events").fetchall()
    assert rows == [(401, "rejected")]
