"""`leaim audit verify` and `audit digest` check and seal the tamper-evident audit trail; `audit purge` removes
what each use case keeps no longer; `audit export` fetches the trail.

Verifying and sealing read the audit store and the digest archive directly, without the local stack; verifying
also reconciles the accepted store (DynamoDB) with the chains. Purging runs the scheduled `AuditPurgeFunction` now,
in this process, over the stores of the local stack. Exporting calls the governance API, local or deployed.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.options import api_client, api_options, instant, positive

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands
    from embedded.clients.records import RecordFormat
    from leaim.adapters.sql import SqlAuditTrail
    from leaim.governance.audit.accepted import AcceptedStore
    from leaim.governance.audit.ports import DigestArchive

# A large store's chains are verified by this many processes at once: one per core, up to four.
VERIFY_WORKERS = min(os.cpu_count() or 1, 4)


PURGE_FUNCTION = "AuditPurgeFunction"


def register(commands: Commands) -> None:
    """Add `audit verify`, `audit digest`, `audit purge` and `audit export`."""
    audit = commands.add_parser("audit", help="seal and verify the tamper-evident audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser(
        "verify",
        help="check every chain, digest and decision, and that every accepted event reached a chain; exit 1 naming "
        "the first break",
    )
    digest = actions.add_parser("digest", help="seal a signed digest of every chain's head now, and archive it")
    for command in (verify, digest):
        command.add_argument("--database-url", help="the audit store (default: the local one in --state-dir)")
        command.add_argument("--archive-bucket", help="the digest archive bucket (default: the running local stack's)")
        command.add_argument(
            "--endpoint-url", help="AWS endpoint of --archive-bucket and --accepted-table (default: AWS's)"
        )
        command.add_argument(
            "--signing-key", type=Path, help="PEM of the audit signing key (default: audit-signing.pem in --state-dir)"
        )
    verify.add_argument(
        "--public-key", action="append", help="base64 Ed25519 public key digests may be signed with (repeatable)"
    )
    verify.add_argument("--no-archive", action="store_true", help="do not compare digests with their archived copies")
    verify.add_argument(
        "--accepted-table",
        help="the accepted store to reconcile with the chains (default: the running local stack's)",
    )
    verify.add_argument(
        "--no-accepted", action="store_true", help="do not reconcile the accepted store with the chains"
    )
    verify.add_argument(
        "--grace",
        type=positive,
        help="seconds an accepted event may wait for its chain before it is a break, pending until then (default: 300)",
    )
    verify.add_argument("--json", action="store_true", help="print the whole report as JSON")
    verify.add_argument(
        "--workers", type=positive, default=VERIFY_WORKERS, help="processes walking the chains of a large store"
    )
    verify.set_defaults(run=_verify)
    digest.set_defaults(run=_digest)
    purge = actions.add_parser(
        "purge",
        help="remove now what each use case's retention keeps no longer (AuditPurgeFunction, daily on `leaim up`), "
        "except under a legal hold and only what a digest sealed; a signed receipt keeps `audit verify` green",
    )
    purge.add_argument("--database-url", help="the audit store (default: the local one in --state-dir)")
    purge.set_defaults(run=_purge)
    export = actions.add_parser("export", help="export audit events with their chain links, as JSON lines or CSV")
    export.add_argument("--format", choices=["jsonl", "csv"], help="default: from --output's suffix, else jsonl")
    export.add_argument("--since", type=instant, help="earliest event time (ISO 8601 with offset)")
    export.add_argument("--until", type=instant, help="end of the range, exclusive (ISO 8601 with offset)")
    for name in ("use-case", "decision-id", "principal", "model-version", "action", "outcome"):
        export.add_argument(f"--{name}", help=f"only events with this {name.replace('-', ' ')}")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    api_options(export, "auditor")
    export.set_defaults(run=_export)


def _verify(arguments: argparse.Namespace, console: Console) -> int:
    """0 when every chain, digest and decision is intact, 1 naming the first broken link."""
    from embedded.emulation.trail import AUDIT_SIGNING_KEY
    from leaim.governance.audit.sealing import DigestSigner
    from leaim.governance.audit.verification import PENDING_GRACE_S, TrailVerifier, public_keys_from_b64, summary

    state_dir, trail, archive = _store_and_archive(arguments)
    key_file: Path = arguments.signing_key or state_dir / AUDIT_SIGNING_KEY
    keys = public_keys_from_b64(arguments.public_key or [])
    if not keys and key_file.is_file():
        local = DigestSigner.from_pem(key_file.read_bytes())
        keys = {local.key_id: local.public_key}
    accepted = None if arguments.no_accepted else _accepted_store(arguments, state_dir)
    grace_s = PENDING_GRACE_S if arguments.grace is None else float(arguments.grace)
    verifier = TrailVerifier(keys, workers=arguments.workers, grace_s=grace_s)
    report = verifier.verify(trail, None if arguments.no_archive else archive, accepted)
    text = report.model_dump_json(indent=2) if arguments.json else summary(report)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    return 0 if report.intact else 1


def _digest(arguments: argparse.Namespace, console: Console) -> int:
    """Seal a signed digest of every chain's head into the archive."""
    from embedded.emulation.trail import audit_signer
    from leaim.domain.clock import SystemClock
    from leaim.governance.audit.sealing import DigestSealer, DigestSigner

    state_dir, trail, archive = _store_and_archive(arguments)
    if archive is None:
        raise ApiUsageError("no archive to seal into: start `leaim up`, or pass --archive-bucket")
    signing_key: Path | None = arguments.signing_key
    signer = audit_signer(state_dir) if signing_key is None else DigestSigner.from_pem(signing_key.read_bytes())
    sealed = DigestSealer(store=trail, archive=archive, signer=lambda: signer, clock=SystemClock()).seal()
    digest = sealed.signed.digest
    name = sealed.archived.key.rsplit("/", 1)[-1]
    console.print(
        f"sealed digest {digest.sequence}: {len(digest.heads)} chain{'' if len(digest.heads) == 1 else 's'}, "
        f"{digest.events} events, sha256 "
        f"{sealed.signed.digest_hash}, archived at {archive.location}{name} (version {sealed.archived.version_id})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _purge(arguments: argparse.Namespace, console: Console) -> int:
    """Run the purge once on the local stack and say what it removed."""
    import uuid

    from embedded.cli.monitor import stack_environment, stack_wiring
    from leaim.bootstrap.retention import build_audit_purge
    from leaim.governance.audit.retention import run_purge

    settings, aws = stack_wiring(arguments, PURGE_FUNCTION)
    with stack_environment(aws):
        purges = build_audit_purge("audit-purge", settings)
        result = run_purge(purges.purger, purges.runtime.schedule_gate("leaim audit purge"), uuid.uuid4().hex)
    if result is None:
        console.print("a concurrent run purged first", markup=False, highlight=False)
        return 0
    left = [f"{name} (legal hold)" for name in result.held] + [f"{name} (no retention)" for name in result.unset]
    kept = f"; kept whole: {', '.join(left)}" if left else ""
    if result.signed is None:
        console.print(f"nothing is past its retention{kept}", markup=False, highlight=False, soft_wrap=True)
        return 0
    purge = result.signed.purge
    console.print(
        f"purge {purge.sequence}: removed {purge.events.count} events in {len(purge.ranges)} ranges, "
        f"{purge.decisions.count} decisions and the inputs or reasons of {purge.redactions.count}, all sealed by "
        f"digest {purge.sealed_by}; {result.forgotten} accepted items forgotten; receipt sha256 "
        f"{result.signed.purge_hash}{kept}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _store_and_archive(arguments: argparse.Namespace) -> tuple[Path, SqlAuditTrail, DigestArchive | None]:
    """The state folder, the audit store (--database-url, else the local one) and the digest archive, if any."""
    from leaim.adapters.sql import SqlAuditTrail, create_engine_for, create_schema

    state_dir: Path = arguments.state_dir.resolve()
    if arguments.database_url is None and not (state_dir / "leaim.db").is_file():
        raise ApiUsageError(f"no audit store in {state_dir}: run `leaim up` or `leaim demo`, or pass --database-url")
    engine = create_engine_for(arguments.database_url or f"sqlite:///{state_dir / 'leaim.db'}")
    create_schema(engine)
    return state_dir, SqlAuditTrail(engine), _digest_archive(arguments, state_dir)


def _digest_archive(arguments: argparse.Namespace, state_dir: Path) -> DigestArchive | None:
    """The archive named by --archive-bucket, else the running local stack's, else None."""
    from leaim.adapters.audit_archive import S3DigestArchive
    from leaim.config import Settings

    retention_days = Settings.from_env().audit_archive_retention_days
    if arguments.archive_bucket:
        import boto3

        client = boto3.client("s3", endpoint_url=arguments.endpoint_url)
        return S3DigestArchive(arguments.archive_bucket, client, retention_days=retention_days)
    from embedded.emulation.trail import running_resource

    found = running_resource(state_dir, "AuditArchiveBucket", "s3")
    if found is None:
        return None
    bucket, client = found
    return S3DigestArchive(bucket, client, retention_days=retention_days)


def _accepted_store(arguments: argparse.Namespace, state_dir: Path) -> AcceptedStore | None:
    """The accepted store named by --accepted-table, else the running local stack's, else None."""
    import time

    from leaim.adapters.dynamodb_audit import DynamoAcceptedStore

    if arguments.accepted_table:
        import boto3

        client = boto3.client("dynamodb", endpoint_url=arguments.endpoint_url)
        return DynamoAcceptedStore(arguments.accepted_table, client, clock=time.time)
    from embedded.emulation.trail import running_resource

    found = running_resource(state_dir, "AcceptedTable", "dynamodb")
    if found is None:
        return None
    table, client = found
    return DynamoAcceptedStore(table, client, clock=time.time)


def _export(arguments: argparse.Namespace, console: Console) -> int:
    from embedded.clients.governance import GovernanceClient

    client = api_client(GovernanceClient, arguments)
    output: Path | None = arguments.output
    kind: RecordFormat = arguments.format or ("csv" if output and output.suffix.lower() == ".csv" else "jsonl")
    filters = {
        "since": arguments.since,
        "until": arguments.until,
        "use_case": arguments.use_case,
        "decision_id": arguments.decision_id,
        "principal": arguments.principal,
        "model_version": arguments.model_version,
        "action": arguments.action,
        "outcome": arguments.outcome,
    }
    text = client.export_audit(filters, kind)
    if output is None:
        console.file.write(text)
        return 0
    output.write_text(text, encoding="utf-8", newline="")
    events = len(text.splitlines()) if kind == "jsonl" else max(len(list(csv.reader(io.StringIO(text)))) - 1, 0)
    console.print(f"Wrote {events} audit events to {output} ({kind})", markup=False, highlight=False)
    return 0
