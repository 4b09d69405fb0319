"""`leaim bom`: the AI bill of materials (CycloneDX 1.6 ML-BOM) of a use case's champion, or of one version.

The model card, the dataset and the code come from the version's signed manifest (lifecycle API) and the use case's
active policy (policy registry); the dependencies from the lock file of the platform's checkout (those of the
platform and its training code, as the lock resolves them); the worker images from the pins of `gpu_workers`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.manifest.v1 import UseCaseManifest
from contracts.model.v1 import SignedManifest
from embedded.cli.exceptions import ApiUsageError
from embedded.cli.models import NAMED, lifecycle_client, named_model
from embedded.cli.options import api_client, api_options
from embedded.world import REPOSITORY
from gpu_workers import settings
from leaim.governance.evidence.bom import Package, WorkerImage, ml_bom

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands

LOCK_FILE = REPOSITORY / "uv.lock"
PROJECT = "leaim"
# The lock's groups that run a model's code: the training and inference code of the workers.
MODEL_GROUPS = ("workers",)


def register(commands: Commands) -> None:
    """Add `bom`."""
    bom = commands.add_parser("bom", help="write the AI bill of materials (CycloneDX 1.6) of a use case's champion")
    bom.add_argument("use_case", help=f"the use case, {NAMED}")
    bom.add_argument("--version", help="a model version (default: the champion)")
    bom.add_argument("--output", "-o", type=Path, help="write it to this file (default: print it)")
    bom.add_argument("--lock", type=Path, default=LOCK_FILE, help="the lock file of the platform's dependencies")
    api_options(bom, "auditor")
    bom.set_defaults(run=_bom)


def locked_packages(lock: Path) -> list[Package]:
    """Every package the lock file resolves for the platform's own dependencies and its workers' code."""
    try:
        packages = tomllib.loads(lock.read_text())["package"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise ApiUsageError(f"the lock file {lock} cannot be read: {error}") from error
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in packages:
        by_name.setdefault(package["name"], []).append(package)
    project = by_name.get(PROJECT, [None])[0]
    if project is None:
        raise ApiUsageError(f"the lock file {lock} does not lock {PROJECT}")
    wanted = list(project.get("dependencies", []))
    for group in MODEL_GROUPS:
        wanted += project.get("dev-dependencies", {}).get(group, [])
    found: dict[tuple[str, str], Package] = {}
    while wanted:
        entry = wanted.pop()
        for package in by_name.get(entry["name"], []):
            if "version" in entry and package.get("version") != entry["version"]:
                continue
            key = (package["name"], package["version"])
            if key in found:
                continue
            found[key] = Package(package["name"], package["version"])
            wanted += package.get("dependencies", [])
            for extra in entry.get("extra", []):
                wanted += package.get("optional-dependencies", {}).get(extra, [])
    return sorted(found.values(), key=lambda package: (package.name, package.version))


def worker_images() -> list[WorkerImage]:
    """The inference and training images, with the packages their Modal apps install."""

    def pinned(requirements: tuple[str, ...]) -> tuple[Package, ...]:
        return tuple(Package(*requirement.split("==", 1)) for requirement in requirements)

    return [
        WorkerImage(
            settings.INFERENCE_APP_NAME, settings.PYTHON_VERSION, settings.GPU, pinned(settings.INFERENCE_PACKAGES)
        ),
        WorkerImage(
            settings.TRAINING_APP_NAME, settings.PYTHON_VERSION, settings.GPU, pinned(settings.TRAINING_PACKAGES)
        ),
    ]


def _bom(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.policies import PolicyClient

    client = lifecycle_client(arguments)
    summary = named_model(client, arguments.use_case)
    version = arguments.version or summary.champion
    if version is None:
        raise ApiUsageError(f"use case {summary.use_case!r} has no champion yet: name a version with --version")
    view = client.version(summary.model_name, version)
    signed = SignedManifest(manifest=view.manifest, key_id=view.key_id, signature=view.signature)
    policies = api_client(PolicyClient, arguments).list("use_case", summary.use_case)
    active = next((v for v in policies.versions if v.version == policies.head.active), None)
    if active is None:
        raise ApiUsageError(f"use case {summary.use_case!r} has no active policy version")
    document = ml_bom(
        signed,
        UseCaseManifest.model_validate(active.document),
        packages=locked_packages(arguments.lock),
        images=worker_images(),
    )
    text = json.dumps(document, indent=2) + "\n"
    if arguments.output is None:
        console.file.write(text)
        return 0
    arguments.output.write_text(text)
    console.print(
        f"wrote {arguments.output}: ML-BOM of {summary.model_name}@{version}, {len(document['components'])} components"
    )
    return 0
