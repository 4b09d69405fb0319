"""`leaim replay DECISION_ID [--policy VERSION] [--model VERSION]`: recompute a stored decision through the decision
API and show whether it comes out the same, or exactly what differs and why.

It exits 0 when the replay decides as the decision was made, 1 when anything differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedded.cli.options import api_client, api_options, positive
from embedded.clients.tables import differences_table, replay_table

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands


def register(commands: Commands) -> None:
    """Add `replay`."""
    replay = commands.add_parser(
        "replay", help="recompute a stored decision and show what differs and why (exit 1 when anything does)"
    )
    replay.add_argument("decision_id")
    replay.add_argument(
        "--policy", type=positive, metavar="VERSION", help="a registered policy version (default: the one that decided)"
    )
    replay.add_argument(
        "--model",
        metavar="VERSION",
        help="the model version that scored it, or one that serves now (default: the one that scored it)",
    )
    api_options(replay, "auditor")
    replay.set_defaults(run=_replay)


def _replay(arguments: argparse.Namespace, console: Console) -> int:
    """0 when the replay is the same decision, 1 when it differs."""
    from embedded.clients.decisions import DecisionClient

    client = api_client(DecisionClient, arguments)
    report = client.replay(arguments.decision_id, policy_version=arguments.policy, model_version=arguments.model)
    console.print(replay_table(report))
    if report.same:
        console.print("The replay decides as the decision was made.", markup=False, highlight=False)
        return 0
    console.print(differences_table(report))
    return 1
