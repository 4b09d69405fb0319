"""`leaim up` and `leaim demo`: the local stack from template.yaml, run until interrupted or through a demo."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from embedded.cli.options import positive

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands
    from embedded.synthetic import Card
    from embedded.world import LocalWorld


def register(commands: Commands) -> None:
    """Add `up` and `demo`."""
    up = commands.add_parser("up", help="run the local stack from template.yaml until interrupted")
    up.add_argument("--port", type=int, default=3000, help="API port on 127.0.0.1 (default: 3000)")
    up.add_argument("--no-train", action="store_true", help="do not train the reference model at start")
    up.set_defaults(run=_up)
    demo = commands.add_parser("demo", help="train, start the stack, send decisions over HTTP and SQS, reconcile")
    demo.add_argument("--requests", type=positive, default=240, help="well-formed HTTP decision requests")
    demo.add_argument("--queue-messages", type=positive, default=60, help="messages sent to the decision queue")
    demo.add_argument(
        "--training-rows", type=positive, default=10_000, help="transactions ingested to train the reference model"
    )
    demo.add_argument(
        "--ingest-records", type=positive, default=1_200, help="records sent to the ingestion entry points"
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--drift",
        action="store_true",
        help="run the feedback loop instead: drift, retraining, promotion (state in STATE_DIR/drift-demo, emptied)",
    )
    demo.set_defaults(run=_demo)


def _example_inputs(world: LocalWorld, cards: list[Card]) -> dict[str, object]:
    """Inputs of one well-formed transaction of a seeded card, for the printed example."""
    from embedded.synthetic import CardFraudGenerator

    return dict(CardFraudGenerator(world.manifest, seed=0).transactions(1, cards[:1])[0].inputs)


def _up(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.synthetic import CardFraudGenerator
    from embedded.world import LocalWorld, WorldOptions

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
        console.print(f"Ingest queue   {stack.queue_url('IngestQueue')}")
        console.print(f"Ingest stream  {stack.stream_name('IngestStream')}")
        console.print(f"Datasets       s3://{stack.bucket_name('DatasetsBucket')}")
        console.print(f"Artifacts      s3://{stack.bucket_name('ArtifactsBucket')}")
        console.print(f"Audit store    {world.database_url}")
        console.print(f"Audit archive  s3://{stack.bucket_name('AuditArchiveBucket')}")
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
        console.print("  leaim sample-data transactions.jsonl --rows 2000 --bad 40")
        console.print("  leaim ingest transactions.jsonl --dataset transactions && leaim quarantine transactions")
        console.print(
            "  leaim snapshots transactions && leaim train --snapshot <id> --deploy shadow && leaim traffic card_fraud"
        )
        console.print("  leaim audit digest && leaim audit verify")
        console.print("Ctrl-C stops the stack.")
        while True:
            time.sleep(3600)


def _demo(arguments: argparse.Namespace, console: Console) -> int:
    if arguments.drift:
        return _drift_demo(arguments, console)
    from embedded.demos.main import DemoOptions, run_demo
    from embedded.world import WorldOptions

    world = WorldOptions(state_dir=arguments.state_dir, seed=arguments.seed, run_schedules=False)
    options = DemoOptions(
        training_rows=arguments.training_rows,
        http_requests=arguments.requests,
        queue_messages=arguments.queue_messages,
        ingest_records=arguments.ingest_records,
        world=world,
    )
    return run_demo(options, console)


def _drift_demo(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.demos.drift import DriftDemoOptions, run_drift_demo
    from embedded.world import WorldOptions

    world = WorldOptions(state_dir=arguments.state_dir / "drift-demo", seed=arguments.seed, run_schedules=False)
    return run_drift_demo(DriftDemoOptions(world=world), console)
