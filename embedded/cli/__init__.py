"""The `leaim` command: the embedded default, its benchmarks, and a client of every API, local or deployed.

One module per group of commands:
- `stack`: `up` runs the local stack until interrupted; `demo` (and `demo --drift`) runs the main job on it.
- `data`: `ingest`, `quarantine`, `snapshot` and `snapshots` call the ingestion API; `sample-data` writes
  records to try them on.
- `models`: `train`, `retrain`, `models`, `traffic`, `promote` and `rollback` call the lifecycle API;
  `manifest-key` makes a manifest signing key.
- `stops`: `stop` and `resume` set a use case's stop switch (lifecycle API).
- `evidence`: `bom` writes the AI bill of materials of a use case's champion (CycloneDX 1.6), `instructions` its
  instructions for use, `documentation` the champion's technical documentation (Markdown, HTML or PDF); `--archive`
  archives the document, signed, beside the model version.
- `documents`: `documents` lists the signed documents archived beside a model version, verifies them and fetches
  one (lifecycle API).
- `policy`: `policy propose`, `approve`, `activate`, `shadow`, `rollback`, `retire`, `list`, `show` and `report`
  manage the versions of use-case policies and dataset contracts in the policy registry (lifecycle API).
- `governance`: `governance report`, `outcome`, `reviews`, `review`, `drift`, `bias`, `quality`, `alerts`
  and `usage` call the governance API.
- `monitor`: `monitor run` runs the drift and bias monitor now on the local stack and prints its reports.
- `replay`: `replay` recomputes a stored decision through the decision API and shows what differs and why.
- `audit`: `audit verify` and `audit digest` check and seal the tamper-evident trail; `audit export` reads
  it through the governance API.
- `keys`: `keys create`, `list`, `rotate` and `revoke` manage API keys, each change audited.
- `bench`: `bench`, `bench-ingest`, `bench-models`, `bench-drift` and `bench-audit` measure each path
  against its floor and write their pages of the documentation.
- `load`: `load` drives the local stack open-loop through rising arrival rates and writes its page and plot.
- `capacity`: `capacity` sizes AWS and Modal for a decision rate from this run's measurements.
- `chaos`: `chaos` makes each fault on the local stack under steady traffic and checks every promise.
- `openapi`: `openapi` checks the committed OpenAPI document, `openapi --write` writes it.
- `use_cases`: `use-case draft` drafts a use-case manifest and a dataset contract from a CSV file; `use-case validate`
  checks manifests and dataset contracts offline, naming each problem with its path.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console

from embedded.cli import (
    audit,
    bench,
    capacity,
    chaos,
    data,
    documents,
    evidence,
    governance,
    keys,
    load,
    models,
    monitor,
    openapi,
    policy,
    replay,
    stack,
    stops,
    use_cases,
)
from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["build_parser", "main"]

# Each module adds its group of commands; `leaim --help` lists them in this order.
COMMAND_GROUPS = (
    stack,
    data,
    models,
    stops,
    policy,
    governance,
    evidence,
    documents,
    monitor,
    replay,
    audit,
    keys,
    bench,
    load,
    capacity,
    chaos,
    openapi,
    use_cases,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `leaim`: `--state-dir`, and every command group's commands, each carrying its `run` handler."""
    parser = argparse.ArgumentParser(prog="leaim", description="Governed ML decisions, on this machine or on AWS.")
    parser.add_argument("--state-dir", type=Path, default=Path(".leaim"), help="local state (default: .leaim)")
    # Each command's parser sets `run`, its handler: (arguments, console) -> exit status. A command whose options
    # can clash in ways argparse cannot tell also sets `check`: (arguments) -> the problem, or None.
    parser.set_defaults(check=None)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


@contextlib.contextmanager
def _function_output(state_dir: Path) -> Iterator[TextIO]:
    """Send what the functions print (logs, EMF metrics) to a file, as CloudWatch would keep it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with (state_dir / "functions.log").open("a", encoding="utf-8") as log:
        sys.stdout = log
        try:
            yield terminal
        finally:
            sys.stdout = terminal


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `leaim` command: exit 0 or 1 as the command decides, 2 for a refusal, 130 when interrupted."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.check is not None and (problem := arguments.check(arguments)):
        parser.error(problem)
    try:
        with _function_output(arguments.state_dir) as terminal:
            console = Console(file=terminal)
            status = arguments.run(arguments, console)
    except (LeaimError, OSError) as error:
        print(f"leaim: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        status = 130
    raise SystemExit(status)
