"""`leaim monitor run`: the drift and bias monitor, run now on the local stack, and what it found.

The monitor is the scheduled `DriftMonitorFunction`, whose first run on `leaim up` comes an hour after the start.
This command runs it now, in this process, as `leaim audit digest` seals a digest: it builds the monitor as the
function builds it (`build_monitoring`), over the stores of the stack that `leaim up` runs from `--state-dir`, wired
to them as `template.yaml` wires the function, runs it once and prints its reports. The run is audited as a
scheduled run is, with this command as the source of its event; a drifting champion's retraining job goes to the
stack's training queue, where the stack trains it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import TYPE_CHECKING

from embedded.cli.exceptions import ApiUsageError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from rich.console import Console

    from embedded.cli.options import Commands
    from leaim.bootstrap.lifecycle import Lifecycle
    from leaim.config import Settings
    from leaim.governance.oversight.monitor import MonitorRun

MONITOR_FUNCTION = "DriftMonitorFunction"
SOURCE = "leaim monitor run"
# moto's server takes any credentials; these keep boto3 from using real ones against it.
LOCAL_CREDENTIAL = "local"


def register(commands: Commands) -> None:
    """Add `monitor run`."""
    monitor = commands.add_parser("monitor", help="run the drift and bias monitor now")
    actions = monitor.add_subparsers(dest="monitor_command", required=True)
    run = actions.add_parser(
        "run",
        help="run the drift and bias monitor now on the local stack and print its reports; exit 1 when a use case "
        "could not be judged",
        description="Run the drift and bias monitor (DriftMonitorFunction, hourly on `leaim up`) now, on the stack "
        "that `leaim up` runs from --state-dir, and print its reports. A drifting champion is retrained on the stack.",
    )
    run.add_argument("--use-case", help="only this use case, its name or its model's (default: every one)")
    run.add_argument("--database-url", help="the audit store (default: the local one in --state-dir)")
    run.set_defaults(run=_run)


def _run(arguments: argparse.Namespace, console: Console) -> int:
    from leaim.bootstrap.monitoring import build_monitoring
    from leaim.governance.oversight.monitor import run_monitor

    settings, aws = stack_wiring(arguments, MONITOR_FUNCTION)
    with stack_environment(aws):
        monitoring = build_monitoring("drift-monitor", settings)
        use_cases = None if arguments.use_case is None else [_use_case(monitoring.lifecycle, arguments.use_case)]
        gate = monitoring.runtime.schedule_gate(SOURCE)
        run = run_monitor(monitoring.monitor, gate, uuid.uuid4().hex, use_cases)
    _print_run(run, console)
    return 1 if run.problems else 0


def _use_case(lifecycle: Lifecycle, name: str) -> str:
    """The use case `name` names, by its own name or its model's; ApiUsageError naming those there are."""
    from leaim.exceptions import NotFoundError

    catalog = lifecycle.manifests
    if name in catalog.names():
        return name
    try:
        return lifecycle.jobs.manifest_of_model(name).name
    except NotFoundError:
        there = ", ".join(f"{u} (model {catalog.get(u).model.name})" for u in catalog.names())
        raise ApiUsageError(f"no use case or model is named {name!r}: there are {there}") from None


def stack_wiring(arguments: argparse.Namespace, function_id: str) -> tuple[Settings, dict[str, str]]:
    """A scheduled function's settings on the running local stack, and the AWS environment that reaches its endpoint.

    Each of the function's variables in `template.yaml` that names a resource gets that resource of the running
    stack; the audit store and the signing key are those of the state directory; the rest comes from this
    process's environment (`LEAIM_USE_CASES_DIR`, `LEAIM_DATASETS_DIR`), as `leaim up` passes it to the function.
    """
    import json

    from embedded.emulation.template import load_template
    from embedded.emulation.trail import AUDIT_SIGNING_KEY, STACK_STATE, running_resource
    from embedded.world import TEMPLATE
    from leaim.config import Settings

    state_dir: Path = arguments.state_dir.resolve()
    running = running_resource(state_dir, "AcceptedTable", "dynamodb")
    if running is None:
        raise ApiUsageError(f"no local stack runs from {state_dir}: start `leaim up`, or pass --state-dir")
    if arguments.database_url is None and not (state_dir / "leaim.db").is_file():
        raise ApiUsageError(f"no audit store in {state_dir}: pass --database-url")
    resources = json.loads((state_dir / STACK_STATE).read_text(encoding="utf-8"))["resources"]
    variables = load_template(TEMPLATE).functions[function_id].environment
    wired = {
        name: str(resources[value["Ref"]]["ref"])
        for name, value in variables.items()
        if isinstance(value, dict) and value.keys() == {"Ref"} and value["Ref"] in resources
    }
    settings = Settings.from_env(
        {
            **os.environ,
            **wired,
            "LEAIM_WORKER_BACKEND": "local",
            "LEAIM_DATABASE_URL": arguments.database_url or f"sqlite:///{state_dir / 'leaim.db'}",
            "LEAIM_MANIFEST_SIGNING_KEY_FILE": str(state_dir / "manifest-signing.pem"),
            "LEAIM_AUDIT_SIGNING_KEY_FILE": str(state_dir / AUDIT_SIGNING_KEY),
        }
    )
    client = running[1]
    region = str(client.meta.region_name)
    aws = {
        "AWS_ENDPOINT_URL": str(client.meta.endpoint_url),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIAL,
        "AWS_SESSION_TOKEN": LOCAL_CREDENTIAL,
    }
    return settings, aws


@contextlib.contextmanager
def stack_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment while a function is built and runs (its AWS clients read them),
    and what was there before afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _print_run(run: MonitorRun, console: Console) -> None:
    from embedded.clients.tables import alerts_table, bias_table, drift_table, facts_table

    if not run.drift and not run.problems:
        console.print("No use case has a live version: there is nothing to monitor yet.", markup=False)
    for report in run.drift:
        console.print(drift_table(report))
    for bias in run.bias:
        if bias.indicators:
            console.print(bias_table(bias))
    if run.opened:
        console.print(alerts_table(f"Alerts opened: {len(run.opened)}", run.opened))
    facts = {
        "drift": ", ".join(f"{r.use_case} {r.model_version} ({r.role}): {r.status}" for r in run.drift) or "-",
        "alerts opened": len(run.opened),
        "alerts closed": run.closed,
        "retraining jobs": ", ".join(run.retraining) or "-",
        "problems": "; ".join(run.problems) or "-",
    }
    console.print(facts_table("Monitor run", facts))
