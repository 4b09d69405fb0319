"""`leaim stop` and `leaim resume`: the stop switch of a use case (EU AI Act Art. 14), through the lifecycle API.

A stopped use case decides nothing with its models or rules: from the next request on, every decision gets the
manifest's fallback outcome (or, stopped `--into review`, goes to a person), marked on the answer as stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.models import NAMED, lifecycle_client, named_model
from embedded.cli.options import api_options
from embedded.clients.tables import facts_table

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from contracts.model.v1 import StopState
    from embedded.cli.options import Commands


def register(commands: Commands) -> None:
    """Add `stop` and `resume`."""
    stop = commands.add_parser(
        "stop", help="stop a use case: every decision gets its fallback (or goes to review) from the next request on"
    )
    stop.add_argument("use_case", help=f"the use case, {NAMED}")
    stop.add_argument("--reason", help="why it is stopped (audited; needed unless --show)")
    stop.add_argument(
        "--into", choices=["fallback", "review"], default="fallback", help="where decisions go (default: fallback)"
    )
    stop.add_argument("--show", action="store_true", help="show whether it is stopped, and change nothing")
    api_options(stop, "risk_owner")
    stop.set_defaults(run=_stop)
    resume = commands.add_parser("resume", help="let a stopped use case's models and rules decide again")
    resume.add_argument("use_case", help=f"the use case, {NAMED}")
    resume.add_argument("--reason", required=True, help="why it may decide again (audited)")
    api_options(resume, "risk_owner")
    resume.set_defaults(run=_resume)


def _stop(arguments: argparse.Namespace, console: Console) -> int:
    if not arguments.show and not arguments.reason:
        raise ApiUsageError("leaim stop needs --reason (why the use case is stopped), or --show")
    client = lifecycle_client(arguments)
    use_case = named_model(client, arguments.use_case).use_case
    if arguments.show:
        _print_stop(client.stop_state(use_case), console)
        return 0
    _print_stop(client.stop(use_case, arguments.into, arguments.reason), console)
    return 0


def _resume(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    _print_stop(client.resume(named_model(client, arguments.use_case).use_case, arguments.reason), console)
    return 0


def _print_stop(state: StopState, console: Console) -> None:
    facts = {
        "state": f"stopped into {state.mode}" if state.stopped else "running",
        "reason": state.reason or "-",
        "changed": f"{state.changed_at:%Y-%m-%d %H:%M:%S} by {state.changed_by}" if state.changed_at else "never",
    }
    console.print(facts_table(f"Stop switch of {state.use_case}", facts))
