"""`leaim documents`: the documents archived beside a model version (its technical documentation, instructions for
use and ML-BOM), each with its sha256, the server's signature, key id and retention; `--verify` reads each one back
and checks its bytes against its sha256 and its signature against the model signing key's public key; `--fetch`
writes one to a file. `--archive` of `leaim documentation`, `instructions` and `bom` archives through here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.models import NAMED, lifecycle_client, named_model
from embedded.cli.options import api_options
from embedded.clients.tables import rows_table
from embedded.world import MANIFEST_SIGNING_KEY

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from contracts.model.v1 import ArchivedDocument
    from embedded.cli.options import Commands
    from embedded.clients.lifecycle import LifecycleClient

# The role that archives documents, whose key `--archive` uses on the local stack.
ARCHIVER = "ml_engineer"
SHORT_SHA = 12


def register(commands: Commands) -> None:
    """Add `documents`."""
    documents = commands.add_parser(
        "documents",
        help="list the signed documents archived beside a model version; verify them, or fetch one",
        description="List the documents archived beside a use case's champion (or --version V): technical "
        "documentation, instructions for use and ML-BOM, each revision with its sha256, signature and retention.",
    )
    documents.add_argument("use_case", help=f"the use case, {NAMED}")
    documents.add_argument("--version", help="a model version (default: the champion)")
    documents.add_argument(
        "--verify",
        action="store_true",
        help="read each document back and check its sha256 and its signature; exit 1 if any fails",
    )
    documents.add_argument(
        "--public-key",
        help="base64 Ed25519 public key of the model signing key (default: the local stack's, from --state-dir)",
    )
    documents.add_argument("--fetch", metavar="SHA256", help="write the document with this sha256 (or prefix)")
    documents.add_argument("--output", "-o", type=Path, help="the file --fetch writes")
    documents.add_argument("--json", action="store_true", help="print the records as JSON, signatures in full")
    api_options(documents, "auditor")
    documents.set_defaults(run=_documents, check=_fetch_needs_a_file)


def archive_options(command: argparse.ArgumentParser) -> None:
    """`--archive` and `--archive-key` of a command that writes a document."""
    command.add_argument(
        "--archive",
        action="store_true",
        help="also archive it beside the model version, signed and locked for ten years (lifecycle API)",
    )
    command.add_argument("--archive-key", help=f"API key that archives it (default: the local stack's {ARCHIVER} key)")


def archived(
    arguments: argparse.Namespace, model: str, version: str, kind: str, document_format: str, content: bytes
) -> str:
    """Archive `content` as the `kind` document of `model` `version`; one line saying where it is, its revision
    and sha256."""
    from embedded.clients.lifecycle import LifecycleClient
    from embedded.clients.local import local_client

    client = local_client(
        LifecycleClient, arguments.state_dir, ARCHIVER, api_url=arguments.api_url, api_key=arguments.archive_key
    )
    record, new = client.archive_document(model, version, kind, document_format, content)
    said = "archived" if new else "already archived"
    return (
        f"{said}: {kind} ({document_format}) of {model} {version}, revision {record.revision}, at {record.location}, "
        f"sha256 {record.sha256}, signed by key {record.key_id}, retained until {record.retain_until:%Y-%m-%d}"
    )


def _fetch_needs_a_file(arguments: argparse.Namespace) -> str | None:
    if (arguments.fetch is None) != (arguments.output is None):
        return "--fetch SHA256 and --output FILE go together"
    return None


def _documents(arguments: argparse.Namespace, console: Console) -> int:
    client = lifecycle_client(arguments)
    summary = named_model(client, arguments.use_case)
    version = arguments.version or summary.champion
    if version is None:
        raise ApiUsageError(f"use case {summary.use_case!r} has no champion yet: name a version with --version")
    listed = client.documents(summary.model_name, version)
    if arguments.fetch is not None:
        return _fetch(client, listed.documents, arguments.fetch, arguments.output, console)
    verdicts: dict[str, str] = {}
    if arguments.verify:
        public_key = _public_key(arguments)
        verdicts = {record.location: _verdict(client, record, public_key) for record in listed.documents}
    if arguments.json:
        console.print(listed.model_dump_json(indent=2), markup=False, highlight=False, soft_wrap=True)
    else:
        header = ["kind", "format", "revision", "sha256", "bytes", "archived (UTC)", "by", "retained until", "key id"]
        rows = [
            [
                record.kind,
                record.format,
                record.revision,
                record.sha256[:SHORT_SHA],
                record.size_bytes,
                f"{record.archived_at:%Y-%m-%d %H:%M:%S}",
                record.archived_by,
                f"{record.retain_until:%Y-%m-%d}",
                record.key_id,
                *([verdicts[record.location]] if verdicts else []),
            ]
            for record in listed.documents
        ]
        title = f"Documents archived beside {summary.model_name} {version}"
        console.print(rows_table(title, [*header, *(["verified"] if verdicts else [])], rows))
    if not listed.documents:
        console.print(f"nothing is archived beside {summary.model_name} {version} yet", markup=False)
    return 1 if any(verdict != "yes" for verdict in verdicts.values()) else 0


def _public_key(arguments: argparse.Namespace) -> bytes:
    """The public key `--public-key` names, else the local stack's model signing key's."""
    from leaim.lifecycle.signing import DocumentSigner

    if arguments.public_key is not None:
        try:
            key = base64.b64decode(arguments.public_key, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ApiUsageError(f"--public-key is not base64: {error}") from error
        if len(key) != 32:
            raise ApiUsageError(f"--public-key is {len(key)} bytes: an Ed25519 public key is 32")
        return key
    path: Path = arguments.state_dir / MANIFEST_SIGNING_KEY
    if not path.is_file():
        raise ApiUsageError(f"{path} does not exist: pass the model signing key's public key with --public-key")
    local: bytes = DocumentSigner.from_pem(path.read_bytes()).public_key
    return local


def _verdict(client: LifecycleClient, record: ArchivedDocument, public_key: bytes) -> str:
    """`yes`, or what is wrong with the document as read back: its bytes, or its signature."""
    from leaim.lifecycle.signing import document_signature_holds

    content = base64.b64decode(
        client.document(record.model_name, record.model_version, record.kind, record.sha256).content_base64
    )
    problems = []
    if hashlib.sha256(content).hexdigest() != record.sha256:
        problems.append("its bytes do not hash to its sha256")
    if not document_signature_holds(record, public_key):
        problems.append("its signature does not verify with this public key")
    return "; ".join(problems) or "yes"


def _fetch(
    client: LifecycleClient, records: list[ArchivedDocument], sha256: str, output: Path, console: Console
) -> int:
    matching = {record.sha256: record for record in records if record.sha256.startswith(sha256.lower())}
    if len(matching) != 1:
        found = "none" if not matching else ", ".join(sorted(matching))
        raise ApiUsageError(f"--fetch {sha256} must name one archived document's sha256: it matches {found}")
    record = next(iter(matching.values()))
    content = base64.b64decode(
        client.document(record.model_name, record.model_version, record.kind, record.sha256).content_base64
    )
    if hashlib.sha256(content).hexdigest() != record.sha256:
        raise ApiUsageError(f"the bytes read back do not hash to {record.sha256}: nothing written")
    output.write_bytes(content)
    console.print(
        f"wrote {output}: {record.kind} ({record.format}) revision {record.revision}, sha256 {record.sha256}",
        markup=False,
    )
    return 0
