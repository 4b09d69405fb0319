"""`sam build` output imports and answers like the deployed function: layers laid out as Lambda mounts them.

The build and the built functions run on the functions' runtime (pyenv's python3.12), against moto's server with
the template's resources created by the embedded default's provisioner.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from embedded.emulation.aws import LocalEndpoint, Provisioner, Resolver, local_session
from embedded.emulation.template import load_template
from tests.integration.deploy.sam_cli import TEMPLATE, function_runtime, runtime_python_bin, sam_command
from tests.support.paths import REPOSITORY

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

REPO_ROOT = REPOSITORY
EVENTS = Path(__file__).resolve().parent / "events"
INVOKE_SCRIPT = Path(__file__).resolve().parent / "lambda_invoke.py"
LAYERS = ("DependenciesLayer", "ContractsLayer", "CoreLayer")
API_FUNCTION = "DecisionApiFunction"
# Lambda's quota on a function and all its layers, unzipped.
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024
BUILD_TIMEOUT_S = 900
REGION = "us-east-1"
AWS_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# The parameters without a default, as the embedded default passes them: no secret is read in these tests.
PARAMETERS = {
    "WorkerBackend": "local",
    "ModalTokenSecretArn": "unused-by-the-local-backend",
    "PiiTokenKeySecretArn": "unused-by-the-local-backend",
    "ManifestSigningKeySecretArn": "unused-by-the-local-backend",
    "AuditSigningKeySecretArn": "unused-by-the-local-backend",
}


def size_of(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


@pytest.fixture(scope="module")
def runtime_python() -> Path:
    """The interpreter of the functions' runtime, which the build targets and the built functions run on."""
    runtime = function_runtime()
    return runtime_python_bin(runtime) / runtime


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory, runtime_python: Path) -> Path:
    """Run `sam build` once for this module; a sam that cannot run fails the tests, it never skips them."""
    work = tmp_path_factory.mktemp("sam")
    environment = {
        **os.environ,
        **AWS_ENVIRONMENT,
        "SAM_CLI_TELEMETRY": "0",
        # sam's python3.N builder runs the first python3.N on PATH, with its pip.
        "PATH": os.pathsep.join([str(runtime_python.parent), os.environ.get("PATH", "")]),
    }
    environment.pop("VIRTUAL_ENV", None)
    output = work / "build"
    command = [
        *sam_command(),
        "build",
        "--template-file",
        str(TEMPLATE),
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


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[LocalEndpoint, Resolver]]:
    """moto's server with the template's queues, tables and buckets, and the resolver of its references."""
    endpoint = LocalEndpoint()
    endpoint.start()
    template = load_template(TEMPLATE)
    resolver = Resolver(template, template.parameter_values(PARAMETERS), stack_name="sam-build", region=REGION)
    Provisioner(resolver, endpoint_url=endpoint.url).provision()
    yield endpoint, resolver
    endpoint.stop()


def lambda_path(build_dir: Path, function_id: str) -> str:
    """The function's import path on Lambda: its code (/var/task), then the layers' python/ (/opt/python)."""
    return os.pathsep.join([str(build_dir / function_id), *(str(build_dir / layer / "python") for layer in LAYERS)])


def api_routes(resolver: Resolver, function_id: str) -> set[tuple[str, str]]:
    """(path template, method) of every Api event of the function."""
    return {
        (event.path, event.method)
        for event in resolver.template.functions[function_id].events
        if hasattr(event, "path") and hasattr(event, "method")
    }


def function_environment(resolver: Resolver, function_id: str) -> dict[str, str]:
    """The variables the template gives the function, resolved as the local stack resolves them."""
    function = resolver.template.functions[function_id]
    return {
        name: resolver.resolve_string(value, f"{function_id}.Environment.Variables.{name}")
        for name, value in function.environment.items()
    }


def accepted_events(endpoint: LocalEndpoint, resolver: Resolver) -> list[dict[str, Any]]:
    """Every audit event accepted so far (in no order), from the bundles of the accepted store."""
    dynamodb = local_session(REGION).client("dynamodb", endpoint_url=endpoint.url)
    items = dynamodb.scan(TableName=resolver.resources["AcceptedTable"].ref, ConsistentRead=True)["Items"]
    return [event for item in items if "events" in item for event in json.loads(item["events"]["S"])]


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


def test_gpu_runtime_is_not_in_the_lambda_artifact(build_dir: Path, runtime_python: Path, tmp_path: Path) -> None:
    probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) is None else 1)"
    # numpy is there on purpose: the drift monitor bins live features with it.
    for module in ("onnxruntime", "sklearn", "moto"):
        result = subprocess.run(
            [str(runtime_python), "-S", "-c", probe, module],
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
    build_dir: Path,
    runtime_python: Path,
    aws: tuple[LocalEndpoint, Resolver],
    tmp_path: Path,
    function: str,
    event_file: str,
) -> None:
    endpoint, resolver = aws
    event_path = EVENTS / event_file
    event = json.loads(event_path.read_text(encoding="utf-8"))
    context = event["requestContext"]
    assert (context["resourcePath"], context["httpMethod"]) in api_routes(resolver, function), "event of no route"
    environment = {
        **function_environment(resolver, function),
        **AWS_ENVIRONMENT,
        "AWS_ENDPOINT_URL": endpoint.url,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": lambda_path(build_dir, function),
        # The SQL functions' store: a SQLite file instead of the RDS Proxy, as the local stack gives them.
        "LEAIM_DATABASE_URL": f"sqlite:///{tmp_path / 'leaim.db'}",
        # Secrets Manager is not reachable from a test: the key is given directly instead of by secret ARN.
        "LEAIM_PII_TOKEN_KEY": "test-pii-token-key",
    }
    for name in ("LEAIM_PII_TOKEN_KEY_SECRET_ARN", "LEAIM_MODAL_TOKEN_SECRET_ARN"):
        environment.pop(name, None)
    before = {event["event_id"] for event in accepted_events(endpoint, resolver)}
    response_path = tmp_path / "response.json"
    result = subprocess.run(
        [str(runtime_python), "-S", str(INVOKE_SCRIPT), "app.app", str(event_path), str(response_path)],
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

    accepted = [event for event in accepted_events(endpoint, resolver) if event["event_id"] not in before]
    assert [(e["source"], e["status_code"], e["outcome"]) for e in accepted] == [(function, 401, "rejected")]
