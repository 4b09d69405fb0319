"""The `leaim` command: the embedded default (`up`, `demo`) and the benchmark (`bench`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from rich.console import Console

from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from leaim.data.synthetic import Card
    from leaim.local.world import LocalWorld


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leaim", description="Governed ML decisions, on this machine or on AWS.")
    parser.add_argument("--state-dir", type=Path, default=Path(".leaim"), help="local state (default: .leaim)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the local stack from template.yaml until interrupted")
    up.add_argument("--port", type=int, default=3000, help="API port on 127.0.0.1 (default: 3000)")
    up.add_argument("--no-train", action="store_true", help="do not train the reference model at start")
    demo = commands.add_parser("demo", help="train, start the stack, send decisions over HTTP and SQS, reconcile")
    demo.add_argument("--requests", type=_positive, default=240, help="well-formed HTTP decision requests")
    demo.add_argument("--queue-messages", type=_positive, default=60, help="messages sent to the decision queue")
    demo.add_argument("--seed", type=int, default=7)
    bench = commands.add_parser("bench", help="measure the governed decision path against its floors")
    bench.add_argument("--iterations", type=_positive, default=2000, help="timed calls per in-process measurement")
    bench.add_argument("--http-requests", type=_positive, default=400, help="HTTP requests per concurrency level")
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
    """Entry point of the `leaim` command."""
    arguments = _parser().parse_args(argv)
    try:
        with _function_output(arguments.state_dir) as terminal:
            console = Console(file=terminal)
            status = _run(arguments, console)
    except (LeaimError, OSError) as error:
        print(f"leaim: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        status = 130
    raise SystemExit(status)


def _run(arguments: argparse.Namespace, console: Console) -> int:
    if arguments.command == "demo":
        from leaim.local.demo import DemoOptions, run_demo
        from leaim.local.world import WorldOptions

        world = WorldOptions(state_dir=arguments.state_dir, seed=arguments.seed)
        options = DemoOptions(http_requests=arguments.requests, queue_messages=arguments.queue_messages, world=world)
        return run_demo(options, console)
    if arguments.command == "up":
        return _up(arguments, console)
    from leaim.bench import run_bench

    return run_bench(console, iterations=arguments.iterations, http_requests=arguments.http_requests)


def _example_inputs(world: LocalWorld, cards: list[Card]) -> dict[str, object]:
    """Inputs of one well-formed transaction of a seeded card, for the printed example."""
    from leaim.data.synthetic import CardFraudGenerator

    return dict(CardFraudGenerator(world.manifest, seed=0).transactions(1, cards[:1])[0].inputs)


def _up(arguments: argparse.Namespace, console: Console) -> int:
    from leaim.data.synthetic import CardFraudGenerator
    from leaim.local.world import LocalWorld, WorldOptions

    options = WorldOptions(state_dir=arguments.state_dir, api_port=arguments.port)
    with LocalWorld(options) as world:
        stack = world.running
        if not arguments.no_train:
            with console.status("Training the reference model..."):
                trained = world.train()
            console.print(f"Active model {trained.model_name} {trained.model_version} ({trained.artifact_digest[:12]})")
        cards = CardFraudGenerator(world.manifest, seed=options.seed + 1).cards(500)
        world.seed(cards)
        console.print(f"API            {stack.api_url}")
        console.print(f"AWS endpoint   {stack.endpoint_url}")
        console.print(f"Decision queue {stack.queue_url('DecisionQueue')}")
        console.print(f"Audit store    {world.database_url}")
        console.print(f"API keys       {world.state_dir / 'api-keys.json'}")
        console.print(f"Function logs  {arguments.state_dir / 'functions.log'}")
        example = json.dumps({"request_id": "r-1", "inputs": _example_inputs(world, cards)})
        console.print("Try:")
        console.print(
            f"  curl -s -X POST {stack.api_url}/v1/decisions/card_fraud "
            f"-H 'x-api-key: {world.api_keys['decision_client']}' -d '{example}'",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
        console.print("Ctrl-C stops the stack.")
        while True:
            time.sleep(3600)
