"""`leaim chaos`: the fault suite on the local stack, ending with one table, written to docs/chaos.md."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from embedded.cli.load import seconds
from embedded.cli.options import count

if TYPE_CHECKING:
    from rich.console import Console

    from embedded.cli.options import Commands

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def register(commands: Commands) -> None:
    """Add `chaos`."""
    chaos = commands.add_parser(
        "chaos", help="make each fault on the local stack under steady traffic; check every promise; write its page"
    )
    chosen = chaos.add_mutually_exclusive_group()
    chosen.add_argument("--short", action="store_true", help="a CI-sized subset: one fault of each family")
    chosen.add_argument("--faults", type=_names, help="the faults to run, by name, comma-separated")
    chaos.add_argument("--rate", type=seconds, default=2.0, help="steady decisions per second (default: 2)")
    chaos.add_argument("--fault-s", type=seconds, default=10.0, help="seconds a lasting fault holds (default: 10)")
    chaos.add_argument(
        "--error-rate", type=_fraction, default=0.5, help="share of an AWS service's requests refused (default: 0.5)"
    )
    chaos.add_argument(
        "--training-rows", type=count, default=4_000, help="rows the reference model trains on (0: no model)"
    )
    chaos.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL server for the audit store, behind a proxy (default: {DEFAULT_POSTGRES_URL}); 'none': SQLite",
    )
    chaos.add_argument("--no-docs", action="store_true", help="print the table only; do not rewrite docs/chaos.md")
    chaos.set_defaults(run=_chaos)


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one fault")
    return names


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _chaos(arguments: argparse.Namespace, console: Console) -> int:
    from dataclasses import replace

    from embedded.chaos.run import SHORT_FAULTS, ChaosOptions, fault_names, run_chaos

    faults = list(SHORT_FAULTS) if arguments.short else arguments.faults
    options = ChaosOptions(
        faults=faults,
        rate=arguments.rate,
        fault_s=arguments.fault_s,
        error_rate=arguments.error_rate,
        training_rows=arguments.training_rows,
        postgres_url=None if arguments.postgres == "none" else arguments.postgres,
        command="leaim chaos" + (" --short" if arguments.short else ""),
    )
    if arguments.no_docs:
        options = replace(options, docs_dir=None)
    try:
        options.selected(fault_names(options.error_rate))
    except ValueError as error:
        console.print(f"leaim chaos: {error}", markup=False, highlight=False)
        return 2
    status, _ = run_chaos(console, options)
    return status
