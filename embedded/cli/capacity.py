"""`leaim capacity`: what a rate of governed decisions needs on AWS and Modal, from this run's measurements."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from embedded.bench.sizing import DEFAULT_WRITER_EVENTS_PER_S, TARGET_RATE
from embedded.cli.options import positive

if TYPE_CHECKING:
    from rich.console import Console

    from embedded.cli.options import Commands

# The boosted-trees sizes whose batches are timed, beside the reference model's family.
TREE_COUNTS = (100, 500)


def register(commands: Commands) -> None:
    """Add `capacity`."""
    capacity = commands.add_parser(
        "capacity", help="size Lambda, Modal, DynamoDB and the audit writer for a decision rate; write the page"
    )
    capacity.add_argument("--decisions", type=positive, default=2000, help="governed decisions timed in process")
    capacity.add_argument("--rows", type=positive, default=10_000, help="rows the batch-throughput models train on")
    capacity.add_argument(
        "--tree-counts",
        type=tree_counts,
        default=TREE_COUNTS,
        help="sizes of the boosted-trees models, comma-separated (default: 100,500)",
    )
    capacity.add_argument(
        "--rate", type=rate, default=TARGET_RATE, help=f"decisions per second to size for (default: {TARGET_RATE:g})"
    )
    capacity.add_argument(
        "--writer-events-per-s",
        type=rate,
        default=DEFAULT_WRITER_EVENTS_PER_S,
        help=f"audit events per second one audit writer invocation drains (default: {DEFAULT_WRITER_EVENTS_PER_S:g})",
    )
    capacity.set_defaults(run=_capacity)


def rate(text: str) -> float:
    """An argparse type: a positive, finite number per second."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number per second") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number per second")
    return value


def tree_counts(text: str) -> tuple[int, ...]:
    """An argparse type: tree counts of at least 1, comma-separated."""
    counts: list[int] = []
    for part in text.split(","):
        try:
            counts.append(positive(part.strip()))
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"tree counts: {error}") from None
    return tuple(counts)


def _capacity(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.bench.capacity import run_capacity_bench

    return run_capacity_bench(
        console,
        decisions=arguments.decisions,
        rows=arguments.rows,
        tree_counts=arguments.tree_counts,
        rate=arguments.rate,
        writer_events_per_s=arguments.writer_events_per_s,
    )
