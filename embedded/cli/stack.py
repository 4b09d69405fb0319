"""`leaim up` and `leaim demo`: the local stack from template.yaml, run until interrupted or through a demo."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from embedded.cli.options import positive

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from pydantic import JsonValue
    from rich.console import Console

    from contracts.manifest.v1 import UseCaseManifest
    from embedded.cli.options import Commands
    from embedded.world import LocalWorld
    from leaim.data.datasets import DatasetCatalog


@dataclass(frozen=True)
class UseCaseExample:
    """A configured use case, the datasets that feed it, and the inputs of an example decision request."""

    use_case: str
    datasets: list[str]
    inputs: dict[str, JsonValue]


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


def _up(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.world import LocalWorld, WorldOptions
    from leaim.config import Settings

    # The functions read LEAIM_USE_CASES_DIR and LEAIM_DATASETS_DIR from the environment they inherit; the world
    # reads the same folders.
    settings = Settings.from_env()
    options = WorldOptions(state_dir=arguments.state_dir, api_port=arguments.port, use_cases_dir=settings.use_cases_dir)
    with LocalWorld(options) as world:
        examples = start_use_cases(world, settings.datasets_dir, console, train=not arguments.no_train)
        print_stack(world, examples, console)
        console.print("Ctrl-C stops the stack.")
        while True:
            time.sleep(3600)


def start_use_cases(
    world: LocalWorld, datasets_dir: Path | None, console: Console, *, train: bool
) -> list[UseCaseExample]:
    """Train what can be trained at start, and an example decision request of every configured use case.

    The reference use case is trained (unless `train` is false) when its dataset is configured, and its cards'
    online features are seeded so that its example finds them; any other use case is left for its owner to train,
    with a one-line note saying how.
    """
    from embedded.records import example_inputs
    from embedded.synthetic import card_fraud_problems
    from embedded.world import REFERENCE_USE_CASE
    from leaim.data.datasets import DatasetCatalog

    datasets = DatasetCatalog.from_directory(world.catalog, datasets_dir)
    examples = []
    for use_case in world.catalog.names():
        manifest = world.catalog.get(use_case)
        fed_by = [name for name in datasets.names() if datasets.latest(name).use_case == use_case]
        inputs = example_inputs(manifest, seed=0)
        trained = False
        if use_case == REFERENCE_USE_CASE and not card_fraud_problems(manifest):
            inputs = _seed_reference(world)
            if train and _reference_data(datasets, manifest):
                _train_reference(world, console)
                trained = True
        if train and not trained:
            console.print(_how_to_train(use_case, fed_by), markup=False, highlight=False, soft_wrap=True)
        examples.append(UseCaseExample(use_case, fed_by, inputs))
    return examples


def _seed_reference(world: LocalWorld) -> dict[str, JsonValue]:
    """Seed the online features of the reference use case's cards; the inputs of a transaction of one of them."""
    from embedded.synthetic import CardFraudGenerator

    cards = CardFraudGenerator(world.manifest, seed=world.options.seed + 1).cards(500)
    world.seed(cards)
    return dict(CardFraudGenerator(world.manifest, seed=0).transactions(1, cards[:1])[0].inputs)


def _reference_data(datasets: DatasetCatalog, manifest: UseCaseManifest) -> bool:
    """Whether the reference dataset is configured as the world's training data needs it: its version 1 holds the
    records of generated transactions."""
    from embedded.synthetic import writes_records_of
    from embedded.world import REFERENCE_DATASET

    if REFERENCE_DATASET not in datasets.names():
        return False
    contract = datasets.get(REFERENCE_DATASET, "v1")
    return contract is not None and writes_records_of(contract, manifest)


def _train_reference(world: LocalWorld, console: Console) -> None:
    with console.status("Training the reference model..."):
        trained = world.train()
    console.print(
        f"Active model {trained.model_name} {trained.model_version} ({trained.artifact_digest[:12]})",
        markup=False,
        highlight=False,
    )


def _how_to_train(use_case: str, datasets: list[str]) -> str:
    if not datasets:
        return f"Not trained: {use_case}, which no dataset contract feeds (add one to LEAIM_DATASETS_DIR's folder)."
    dataset = datasets[0]
    return (
        f"Not trained: {use_case}. Train it: leaim sample-data {dataset}.jsonl --dataset {dataset} && leaim ingest "
        f"{dataset}.jsonl --dataset {dataset} && leaim snapshot {dataset} && leaim train --use-case {use_case} "
        "--snapshot <id> --deploy shadow"
    )


def print_stack(world: LocalWorld, examples: list[UseCaseExample], console: Console) -> None:
    """Where the stack listens and keeps its state, and what to try: a request of every use case, then the
    commands that feed, train, monitor and seal it."""
    stack = world.running
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
    console.print(f"Function logs  {world.state_dir / 'functions.log'}")
    console.print("Try:")
    for example in examples:
        body = json.dumps({"request_id": f"example-{example.use_case}", "inputs": example.inputs})
        console.print(
            f"  curl -s -X POST {stack.api_url}/v1/decisions/{example.use_case} "
            f"-H 'x-api-key: {world.api_keys['decision_client']}' -d '{body}'",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    for example in examples:
        for dataset in example.datasets:
            for line in (
                f"leaim sample-data {dataset}.jsonl --dataset {dataset} --rows 2000 --bad 40",
                f"leaim ingest {dataset}.jsonl --dataset {dataset} && leaim quarantine {dataset}",
                f"leaim snapshots {dataset} && leaim train --use-case {example.use_case} --snapshot <id> "
                f"--deploy shadow && leaim traffic {example.use_case}",
            ):
                console.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
    console.print("  leaim monitor run && leaim drift <use case>", highlight=False, markup=False)
    console.print("  leaim audit digest && leaim audit verify", highlight=False, markup=False)


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
