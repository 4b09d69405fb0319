"""`leaim bom`, `leaim instructions` and `leaim documentation`: the AI bill of materials (CycloneDX 1.6 ML-BOM) of a
use case's champion (or of one version), the use case's instructions for use (EU AI Act Art. 13), and the champion's
technical documentation (Annex IV), in Markdown, HTML or PDF; with `--archive`, signed and archived beside the model
version through the lifecycle API (`leaim documents` lists and verifies what is archived).

The model card, the dataset and the code come from the version's signed manifest (lifecycle API) and the use case's
active policy (policy registry); the dependencies from the lock file of the platform's checkout (those of the
platform and its training code, as the lock resolves them); the worker images from the pins of `gpu_workers`.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.manifest.v1 import UseCaseManifest
from contracts.model.v1 import SignedManifest
from embedded.cli.documents import archive_options, archived
from embedded.cli.exceptions import ApiUsageError
from embedded.cli.models import NAMED, lifecycle_client, named_model
from embedded.cli.options import api_client, api_options
from embedded.cli.rendering import html_page, pdf_document
from embedded.world import REPOSITORY
from gpu_workers import settings
from leaim.governance.evidence.bom import Package, WorkerImage, ml_bom
from leaim.governance.evidence.instructions import instructions_for_use
from leaim.governance.evidence.technical import Change, PolicyEntry, TechnicalSources, technical_documentation

if TYPE_CHECKING:
    import argparse
    from datetime import datetime

    from rich.console import Console

    from contracts.audit.v1 import AuditEvent
    from contracts.model.v1 import ModelSummary
    from contracts.policy.v1 import PolicyList, PolicyVersion
    from embedded.cli.options import Commands
    from embedded.clients.governance import GovernanceClient

LOCK_FILE = REPOSITORY / "uv.lock"
# The audited changes the technical documentation lists, and the promotion controller's run.
CHANGE_ACTIONS = (
    "model.traffic.change",
    "model.traffic.rollback",
    "policy.activate",
    "policy.shadow",
    "policy.rollback",
    "policy.retire",
    "use_case.stop",
    "use_case.resume",
)
CONTROLLER_ACTION = "model.promotion.evaluate"
PROJECT = "leaim"
FORMATS = ("markdown", "html", "pdf")
# The lock's groups that run a model's code: the training and inference code of the workers.
MODEL_GROUPS = ("workers",)


def register(commands: Commands) -> None:
    """Add `bom`, `instructions` and `documentation`."""
    bom = _document_command(
        commands, "bom", "write the AI bill of materials (CycloneDX 1.6) of a use case's champion", versioned=True
    )
    bom.set_defaults(run=_bom)
    instructions = _document_command(
        commands, "instructions", "write a use case's instructions for use (EU AI Act Art. 13) in Markdown or HTML"
    )
    instructions.set_defaults(run=_instructions)
    documentation = _document_command(
        commands,
        "documentation",
        "write the technical documentation (EU AI Act Annex IV) of a use case's champion in Markdown or HTML",
        versioned=True,
    )
    documentation.set_defaults(run=_documentation)
    for command in (instructions, documentation):
        command.add_argument(
            "--format",
            choices=FORMATS,
            default="markdown",
            help="markdown (default), a standalone HTML page, or a PDF (which needs --output)",
        )
        command.set_defaults(check=_binary_needs_a_file)


def _document_command(
    commands: Commands, name: str, summary: str, *, versioned: bool = False
) -> argparse.ArgumentParser:
    """A command that writes one document of a use case: its arguments, and the version and lock it reads."""
    command = commands.add_parser(name, help=summary)
    command.add_argument("use_case", help=f"the use case, {NAMED}")
    if versioned:
        command.add_argument("--version", help="a model version (default: the champion)")
        command.add_argument("--lock", type=Path, default=LOCK_FILE, help="the lock file of the dependencies")
    command.add_argument("--output", "-o", type=Path, help="write it to this file (default: print it)")
    api_options(command, "auditor")
    archive_options(command)
    return command


def _binary_needs_a_file(arguments: argparse.Namespace) -> str | None:
    if arguments.format == "pdf" and arguments.output is None:
        return "--format pdf writes a binary file: name it with --output"
    return None


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


@dataclass(frozen=True, slots=True)
class _Sources:
    """What the API holds of a use case: its model, the version asked for (None: no champion yet), its policy."""

    summary: ModelSummary
    signed: SignedManifest | None
    policy: PolicyVersion
    manifest: UseCaseManifest
    policies: PolicyList


def _sources(arguments: argparse.Namespace, version: str | None) -> _Sources:
    from embedded.clients.policies import PolicyClient

    client = lifecycle_client(arguments)
    summary = named_model(client, arguments.use_case)
    version = version or summary.champion
    signed = None
    if version is not None:
        view = client.version(summary.model_name, version)
        signed = SignedManifest(manifest=view.manifest, key_id=view.key_id, signature=view.signature)
    policies = api_client(PolicyClient, arguments).list("use_case", summary.use_case)
    active = next((v for v in policies.versions if v.version == policies.head.active), None)
    if active is None:
        raise ApiUsageError(f"use case {summary.use_case!r} has no active policy version")
    return _Sources(summary, signed, active, UseCaseManifest.model_validate(active.document), policies)


def _rendered(markdown_text: str, arguments: argparse.Namespace, created_at: datetime) -> bytes:
    """The document in the format asked for; a PDF is dated `created_at`, so that it renders the same each time."""
    if arguments.format == "pdf":
        return pdf_document(markdown_text, created_at=created_at)
    text = html_page(markdown_text) if arguments.format == "html" else markdown_text
    return text.encode()


def _write(content: bytes, output: Path | None, console: Console, what: str) -> None:
    if output is None:
        console.file.write(content.decode())
        return
    output.write_bytes(content)
    console.print(f"wrote {output}: {what}")


def _archive(
    arguments: argparse.Namespace, console: Console, signed: SignedManifest | None, kind: str, content: bytes
) -> None:
    """With `--archive`, archive `content` beside `signed`'s version and say where; said on standard error when the
    document itself went to standard output."""
    if not arguments.archive:
        return
    if signed is None:
        raise ApiUsageError(f"there is no champion yet to archive the {kind} beside")
    model = signed.manifest
    document_format = "cyclonedx-json" if kind == "bom" else arguments.format
    record = archived(arguments, model.model_name, model.model_version, kind, document_format, content)
    if arguments.output is None:
        print(record, file=sys.stderr)
    else:
        console.print(record, markup=False, highlight=False, soft_wrap=True)


def _bom(arguments: argparse.Namespace, console: Console) -> int:
    sources = _sources(arguments, arguments.version)
    if sources.signed is None:
        raise ApiUsageError(f"use case {sources.summary.use_case!r} has no champion yet: name a version with --version")
    document = ml_bom(
        sources.signed, sources.manifest, packages=locked_packages(arguments.lock), images=worker_images()
    )
    model = sources.signed.manifest
    what = f"ML-BOM of {model.model_name}@{model.model_version}, {len(document['components'])} components"
    content = (json.dumps(document, indent=2) + "\n").encode()
    _write(content, arguments.output, console, what)
    _archive(arguments, console, sources.signed, "bom", content)
    return 0


def _instructions(arguments: argparse.Namespace, console: Console) -> int:
    sources = _sources(arguments, None)
    document = instructions_for_use(
        sources.manifest,
        policy_version=sources.policy.version,
        policy_digest=sources.policy.digest,
        champion=sources.signed.manifest if sources.signed else None,
    )
    gaps = f"{len(document.gaps)} gaps: {'; '.join(document.gaps)}" if document.gaps else "no gaps"
    what = f"instructions for use of {sources.summary.use_case}, {gaps}"
    dated = [sources.policy.proposed_at, *([sources.signed.manifest.created_at] if sources.signed else [])]
    content = _rendered(document.markdown, arguments, max(dated))
    _write(content, arguments.output, console, what)
    _archive(arguments, console, sources.signed, "instructions", content)
    return 0


def _documentation(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.governance import GovernanceClient

    sources = _sources(arguments, arguments.version)
    if sources.signed is None:
        raise ApiUsageError(f"use case {sources.summary.use_case!r} has no champion yet: name a version with --version")
    use_case = sources.summary.use_case
    document = technical_documentation(
        TechnicalSources(
            use_case=sources.manifest,
            signed=sources.signed,
            policy_version=sources.policy.version,
            policy_digest=sources.policy.digest,
            policies=[
                PolicyEntry(v.version, v.state, v.digest, v.proposed_by, v.note)
                for v in sorted(sources.policies.versions, key=lambda v: v.version)
            ],
            changes=_changes(api_client(GovernanceClient, arguments), use_case),
            images=worker_images(),
            packages=len(locked_packages(arguments.lock)),
        )
    )
    model = sources.signed.manifest
    gaps = f"{len(document.gaps)} gaps: {'; '.join(document.gaps)}" if document.gaps else "no gaps"
    what = f"technical documentation of {model.model_name}@{model.model_version}, {gaps}"
    content = _rendered(document.markdown, arguments, model.created_at)
    _write(content, arguments.output, console, what)
    _archive(arguments, console, sources.signed, "technical-documentation", content)
    return 0


def _changes(client: GovernanceClient, use_case: str) -> list[Change]:
    """Every successful traffic, policy and stop-switch change of `use_case` in the trail, oldest first, and the
    promotion controller's changes of it."""
    changes: list[Change] = []
    for action in CHANGE_ACTIONS:
        for event in _events(client, {"use_case": use_case, "action": action, "outcome": "success"}):
            details = event.details or {}
            summary = "; ".join(str(details[key]) for key in ("change", "reason") if details.get(key)) or action
            changes.append(Change(event.occurred_at, action, event.principal, summary))
    for event in _events(client, {"action": CONTROLLER_ACTION, "outcome": "success"}):
        prefix = f"{use_case}: "
        for change in (event.details or {}).get("changes", []):
            if isinstance(change, str) and change.startswith(prefix):
                changes.append(Change(event.occurred_at, CONTROLLER_ACTION, event.principal, change[len(prefix) :]))
    return sorted(changes, key=lambda change: change.at)


def _events(client: GovernanceClient, filters: dict[str, str | None]) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    cursor: str | None = None
    while True:
        page = client.audit_events(filters, cursor=cursor, limit=500)
        events += [record.event for record in page.records]
        if page.next_cursor is None:
            return events
        cursor = page.next_cursor
