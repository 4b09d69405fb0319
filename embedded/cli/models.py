"""`leaim train`, `retrain`, `models`, `traffic`, `promote`, `rollback` and `manifest-key`: the model lifecycle.

All but `manifest-key`, which reads a key file, call the lifecycle API, local or deployed. A use case has two names,
its own (`card_fraud`) and its model's (`card-fraud`): each command takes either and asks the API which use case and
model it names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.options import api_client, api_options, count
from embedded.clients.tables import facts_table, rows_table

if TYPE_CHECKING:
    from rich.console import Console

    from contracts.model.v1 import ModelSummary, ModelVersionView, TrafficPolicy, TrainingJob
    from embedded.cli.options import Commands
    from embedded.clients.lifecycle import LifecycleClient

JOB_POLL_S = 0.5
NAMED = "its name or its model's"


def _param(text: str) -> tuple[str, float | int | str | bool]:
    """An argparse type: `NAME=VALUE`, the value read as a whole number, a number, true/false or text."""
    name, equals, raw = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    value: float | int | str | bool = raw
    if raw in ("true", "false"):
        value = raw == "true"
    elif re.fullmatch(r"[+-]?\d+", raw):
        value = int(raw)
    else:
        with contextlib.suppress(ValueError):
            value = float(raw)
    return name, value


def register(commands: Commands) -> None:
    """Add `train`, `retrain`, `models`, `traffic`, `promote`, `rollback` and `manifest-key`."""
    train = commands.add_parser(
        "train",
        help="train a model version on a dataset snapshot, with a progress bar",
        description="Train a version of a use case's model on a snapshot of its dataset. Name the use case with "
        "--use-case (or --model); it may be left out only when exactly one use case is configured.",
    )
    train.add_argument("--snapshot", required=True, help="snapshot id to train on (see `leaim snapshots DATASET`)")
    named = train.add_mutually_exclusive_group()
    named.add_argument(
        "--use-case", help=f"use case to train, {NAMED} (required unless exactly one use case is configured)"
    )
    named.add_argument("--model", dest="use_case", metavar="MODEL", help="the same as --use-case")
    train.add_argument("--family", help="model family (default: the manifest's)")
    train.add_argument("--param", dest="params", action="append", type=_param, metavar="NAME=VALUE", help="repeatable")
    train.add_argument("--version", help="version to publish (default: the next vN)")
    train.add_argument("--seed", type=count, default=7)
    train.add_argument("--deploy", choices=["none", "shadow", "canary"], default="none", help="if approved")
    train.add_argument("--no-wait", action="store_true", help="queue the job and print its id")
    api_options(train, "ml_engineer")
    train.set_defaults(run=_train)
    retrain = commands.add_parser(
        "retrain", help="snapshot a use case's data now and train on it, keeping the champion's family and params"
    )
    retrain.add_argument("use_case", help=f"the use case, {NAMED}")
    retrain.add_argument("--reason", required=True)
    retrain.add_argument("--deploy", choices=["none", "shadow", "canary"], default="shadow", help="if approved")
    retrain.add_argument("--no-wait", action="store_true", help="queue the job and print its id")
    api_options(retrain, "ml_engineer")
    retrain.set_defaults(run=_retrain)
    models = commands.add_parser("models", help="list models, or show one version's manifest and gates")
    models.add_argument("model", nargs="?", help="the model, or its use case")
    models.add_argument("version", nargs="?")
    api_options(models, "ml_engineer")
    models.set_defaults(run=_models)
    traffic = commands.add_parser("traffic", help="show a use case's champion, challenger and policy")
    traffic.add_argument("use_case", help=f"the use case, {NAMED}")
    api_options(traffic, "ml_engineer")
    traffic.set_defaults(run=_traffic)
    promote = commands.add_parser("promote", help="make a version champion (full) or challenger (shadow, canary)")
    promote.add_argument("use_case", help=f"the use case, {NAMED}")
    promote.add_argument("version")
    promote.add_argument("--policy", choices=["full", "shadow", "canary"], default="full")
    promote.add_argument("--percent", type=float, default=10.0, help="canary share of requests (default: 10)")
    promote.add_argument("--expected-revision", type=count, help="refuse unless the policy is at this revision")
    promote.add_argument("--reason", default="")
    api_options(promote, "ml_engineer")
    promote.set_defaults(run=_promote)
    rollback = commands.add_parser("rollback", help="drop a use case's challenger, or restore its previous champion")
    rollback.add_argument("use_case", help=f"the use case, {NAMED}")
    rollback.add_argument("--reason", default="")
    api_options(rollback, "ml_engineer")
    rollback.set_defaults(run=_rollback)
    key = commands.add_parser("manifest-key", help="print the public key that verifies a manifest signing key")
    key.add_argument("file", type=Path, help="PKCS#8 PEM of an Ed25519 private key")
    key.add_argument("--generate", action="store_true", help="write a new key to FILE first (refused if it exists)")
    key.set_defaults(run=_manifest_key)


def lifecycle_client(arguments: argparse.Namespace) -> LifecycleClient:
    """The lifecycle API that the command's `--api-url` and `--api-key` name, else the local stack's."""
    from embedded.clients.lifecycle import LifecycleClient

    return api_client(LifecycleClient, arguments)


def named_model(client: LifecycleClient, name: str | None) -> ModelSummary:
    """The use case and model that `name` names, by the use case's name or its model's; with no name, the only use
    case configured. ApiUsageError naming those there are when it names none, or, without a name, there are several.
    """
    configured = client.models().models
    if name is None:
        if len(configured) == 1:
            return configured[0]
        there = f"{len(configured)} are configured ({_listed(configured)})"
        raise ApiUsageError(f"name the use case with --use-case: {there}")
    found = {m.use_case: m for m in configured}.get(name) or {m.model_name: m for m in configured}.get(name)
    if found is None:
        raise ApiUsageError(f"no use case or model is named {name!r}: there are {_listed(configured)}")
    return found


def _listed(configured: list[ModelSummary]) -> str:
    return ", ".join(f"{m.use_case} (model {m.model_name})" for m in configured) or "none"


def _manifest_key(arguments: argparse.Namespace, console: Console) -> int:
    from leaim.lifecycle.signing import ManifestSigner

    path: Path = arguments.file
    if arguments.generate:
        with path.open("xb") as handle:
            handle.write(ManifestSigner.generate().pem())
        path.chmod(0o600)
    signer = ManifestSigner.from_pem(path.read_bytes())
    console.print(f"key id      {signer.key_id}", markup=False, highlight=False)
    console.print(f"public key  {signer.public_key_b64}", markup=False, highlight=False)
    console.print(
        f"modal secret create leaim-manifest-keys LEAIM_MANIFEST_PUBLIC_KEYS={signer.public_key_b64}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _train(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    request: dict[str, object] = {"snapshot_id": arguments.snapshot, "seed": arguments.seed, "deploy": arguments.deploy}
    for name, value in (("family", arguments.family), ("version", arguments.version)):
        if value is not None:
            request[name] = value
    if arguments.params:
        request["params"] = dict(arguments.params)
    job = client.create_training_job(named_model(client, arguments.use_case).model_name, request)
    return _follow(job, client, console, wait=not arguments.no_wait)


def _retrain(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    request = {"reason": arguments.reason, "trigger": "person", "deploy": arguments.deploy}
    job = client.request_retraining(named_model(client, arguments.use_case).use_case, request)
    console.print(f"Snapshot {job.snapshot_id} cut for {job.use_case}", markup=False, highlight=False)
    return _follow(job, client, console, wait=not arguments.no_wait)


def _follow(job: TrainingJob, client: LifecycleClient, console: Console, *, wait: bool) -> int:
    """Show a job's progress until it ends; 0 when its version is approved, 1 when rejected or failed."""
    console.print(
        f"Training job {job.job_id}: {job.model_name} {job.version} ({job.family}) on snapshot {job.snapshot_id}",
        markup=False,
        highlight=False,
    )
    if not wait:
        console.print(f"Follow it with GET /v1/training-jobs/{job.job_id}", markup=False, highlight=False)
        return 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{job.state}: {job.stage}", total=1.0)
        while job.state in ("queued", "running"):
            time.sleep(JOB_POLL_S)
            job = client.training_job(job.job_id)
            progress.update(task, completed=job.progress, description=f"{job.state}: {job.stage}")
    if job.state == "failed":
        console.print(f"Job failed: {job.message}", markup=False, highlight=False)
        return 1
    _print_version(client.version(job.model_name, job.version), console)
    console.print(f"{job.state}: {job.message or ''}", markup=False, highlight=False)
    return 0 if job.state == "succeeded" else 1


def _print_version(view: ModelVersionView, console: Console) -> None:
    manifest = view.manifest
    metrics = manifest.metrics
    lineage = manifest.lineage
    facts: dict[str, object] = {
        "status": manifest.status,
        "aliases": ", ".join(view.aliases) or "-",
        "family": manifest.family,
        "params": json.dumps(manifest.params, sort_keys=True),
        "seed": manifest.seed,
        "artifact sha256": manifest.artifact_digest,
        "artifact bytes": manifest.artifact_bytes,
        "signed by key": view.key_id,
        "snapshot": f"{lineage.snapshot_id} sha256 {lineage.snapshot_sha256[:12]}",
        "code version": lineage.code_version,
        "requested by": f"{lineage.requested_by} ({lineage.trigger})",
        "rows": f"{metrics.train_rows} train, {metrics.holdout_rows} held out",
    }
    console.print(facts_table(f"{manifest.model_name} {manifest.model_version}", facts))
    rows = [
        (gate.gate, "pass" if gate.passed else "FAIL", "" if gate.value is None else f"{gate.value:.6g}", gate.limit)
        for gate in manifest.gates
    ]
    console.print(rows_table("Gates on the held-out split", ("gate", "result", "value", "limit"), rows))
    if manifest.reasons:
        console.print(rows_table("Rejected because", ("reason",), [(reason,) for reason in manifest.reasons]))


def _models(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    if arguments.model and arguments.version:
        _print_version(client.version(named_model(client, arguments.model).model_name, arguments.version), console)
        return 0
    if arguments.model:
        raise ApiUsageError("give a version too: leaim models MODEL VERSION")
    header = ("model", "use case", "family", "versions", "approved", "rejected", "champion", "challenger", "latest")
    rows = [
        (
            m.model_name,
            m.use_case,
            m.family,
            m.versions,
            m.approved,
            m.rejected,
            m.champion,
            m.challenger,
            m.latest_version,
        )
        for m in client.models().models
    ]
    console.print(rows_table("Models", header, rows))
    return 0


def _traffic(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    _print_traffic(client.traffic(named_model(client, arguments.use_case).use_case), console)
    return 0


def _promote(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    change: dict[str, object] = {"version": arguments.version, "policy": arguments.policy, "reason": arguments.reason}
    if arguments.policy == "canary":
        change["canary_percent"] = arguments.percent
    if arguments.expected_revision is not None:
        change["expected_revision"] = arguments.expected_revision
    _print_traffic(client.change_traffic(named_model(client, arguments.use_case).use_case, change), console)
    return 0


def _rollback(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    _print_traffic(client.rollback(named_model(client, arguments.use_case).use_case, arguments.reason), console)
    return 0


def _print_traffic(policy: TrafficPolicy, console: Console) -> None:
    challenger = "-"
    if policy.challenger is not None:
        share = f" {policy.canary_percent:g}%" if policy.policy == "canary" else ""
        challenger = f"{policy.challenger} ({policy.policy}{share})"
    facts = {
        "model": policy.model_name,
        "champion": policy.champion or "-",
        "challenger": challenger,
        "previous champion": policy.previous_champion or "-",
        "revision": policy.revision,
        "changed": f"{policy.updated_at:%Y-%m-%d %H:%M:%S} by {policy.updated_by}",
    }
    console.print(facts_table(f"Traffic of {policy.use_case}", facts))
