"""`leaim load`: the local stack driven open-loop through a ramp of arrival rates, each step measured."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from embedded.cli.options import count, positive
from embedded.load.plan import DEFAULT_RATES

if TYPE_CHECKING:
    from rich.console import Console

    from embedded.cli.options import Commands


def register(commands: Commands) -> None:
    """Add `load`."""
    load = commands.add_parser(
        "load", help="drive the local stack open-loop through rising rates; write the load page and its plot"
    )
    load.add_argument(
        "--rates",
        type=rates,
        default=DEFAULT_RATES,
        help=f"arrival rates per second, rising, comma-separated (default: {','.join(map(_shown, DEFAULT_RATES))})",
    )
    load.add_argument("--step-s", type=seconds, default=20.0, help="seconds measured at each rate (default: 20)")
    load.add_argument(
        "--warmup-s", type=zero_or_more_seconds, default=5.0, help="seconds at each rate before its window (default: 5)"
    )
    load.add_argument("--audit-samples", type=count, default=10, help="decisions per step timed to their audit event")
    load.add_argument("--connections", type=positive, default=256, help="connections the generator may open")
    load.add_argument("--training-rows", type=positive, default=10_000, help="rows the reference model trains on")
    load.set_defaults(run=_load)


def rates(text: str) -> tuple[float, ...]:
    """An argparse type: positive rates per second, comma-separated, each higher than the one before."""
    values: list[float] = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a rate per second") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"a rate must be a positive number, not {part.strip()}")
        if values and value <= values[-1]:
            raise argparse.ArgumentTypeError(f"the rates must rise: {value:g} comes after {values[-1]:g}")
        values.append(value)
    return tuple(values)


def seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def zero_or_more_seconds(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not 0 or more seconds")
    return value


def _shown(rate: float) -> str:
    return f"{rate:g}"


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds")
    return value


def _load(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.load.run import LoadOptions, run_load

    options = LoadOptions(
        rates=arguments.rates,
        step_s=arguments.step_s,
        warmup_s=arguments.warmup_s,
        audit_samples=arguments.audit_samples,
        connections=arguments.connections,
        training_rows=arguments.training_rows,
    )
    return run_load(console, options)
