"""`leaim policy propose|list|show|approve|activate|shadow|rollback|retire|report`: the policy registry.

A use case's manifest or a dataset contract is proposed from its YAML file by an ML engineer, approved by another
principal (the local stack's `risk_owner` key by default), then activated; a use case's proposed version can run in
shadow first, and `report` shows how many decisions it would have changed. Each command calls the lifecycle API,
local or deployed, and every change is audited with the principal that made it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.options import api_client, api_options, instant, positive
from embedded.clients.policies import PolicyClient
from leaim.domain.manifests import read_yaml_document

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from contracts.policy.v1 import PolicyHead, PolicyKind, PolicyVersion
    from embedded.cli.options import Commands

# What a document's `schema_version` says it is.
KINDS: dict[str, PolicyKind] = {"manifest.v1": "use_case", "dataset.v1": "dataset"}


def register(commands: Commands) -> None:
    """Add the `policy` commands."""
    policy = commands.add_parser("policy", help="propose, approve, activate, shadow and roll back policy versions")
    actions = policy.add_subparsers(dest="policy_command", required=True)
    propose = actions.add_parser("propose", help="register a manifest or dataset contract file as a new version")
    propose.add_argument("file", type=Path, help="a use-case manifest or dataset contract (YAML)")
    propose.add_argument("--note", default="", help="why this version is proposed")
    api_options(propose, "ml_engineer")
    propose.set_defaults(run=_propose)
    listing = actions.add_parser("list", help="a policy's head and every version")
    _subject(listing)
    api_options(listing, "auditor")
    listing.set_defaults(run=_list)
    show = actions.add_parser("show", help="one version: digest, signature, who proposed and approved it, its diff")
    _subject(show, version=True)
    show.add_argument("--json", action="store_true", help="print the version, document included, as JSON")
    api_options(show, "auditor")
    show.set_defaults(run=_show)
    approve = actions.add_parser("approve", help="approve a version another principal proposed")
    _subject(approve, version=True)
    approve.add_argument("--reason", default="")
    api_options(approve, "risk_owner")
    approve.set_defaults(run=_approve)
    for change, role, text in (
        ("activate", "ml_engineer", "make an approved version the active one"),
        ("shadow", "ml_engineer", "run a use case's version in shadow beside the active one"),
        ("retire", "ml_engineer", "retire a version that is not active"),
        ("rollback", "ml_engineer", "make the version active before the active one active again"),
    ):
        command = actions.add_parser(change, help=text)
        _subject(command, version=change != "rollback")
        command.add_argument("--reason", default="")
        command.add_argument("--expected-revision", type=int, help="refuse unless the head is at this revision")
        api_options(command, role)
        command.set_defaults(run=_change, change=change)
    report = actions.add_parser("report", help="how many decisions a shadow version would have changed, by outcome")
    report.add_argument("name", help="the use case")
    report.add_argument("version", type=positive)
    report.add_argument("--since", type=instant, help="start (default: a day before --until)")
    report.add_argument("--until", type=instant, help="end, exclusive (default: now)")
    api_options(report, "auditor")
    report.set_defaults(run=_report, dataset=False)


def _subject(command: argparse.ArgumentParser, *, version: bool = False) -> None:
    command.add_argument("name", help="the use case (or, with --dataset, the dataset)")
    if version:
        command.add_argument("version", type=positive)
    command.add_argument("--dataset", action="store_true", help="a dataset's contracts, not a use case's policy")


def _kind(arguments: argparse.Namespace) -> PolicyKind:
    return "dataset" if arguments.dataset else "use_case"


def _client(arguments: argparse.Namespace) -> PolicyClient:
    return api_client(PolicyClient, arguments)


def _propose(arguments: argparse.Namespace, console: Console) -> int:
    document = read_yaml_document(arguments.file)
    kind = KINDS.get(str(document.get("schema_version")))
    if kind is None:
        raise ApiUsageError(f"{arguments.file}: schema_version must be one of {sorted(KINDS)}")
    subject = document.get("name" if kind == "use_case" else "dataset")
    if not isinstance(subject, str):
        raise ApiUsageError(f"{arguments.file}: names no {'use case' if kind == 'use_case' else 'dataset'}")
    version = _client(arguments).propose(kind, subject, document, arguments.note)
    console.print(f"{subject} version {version.version} proposed by {version.proposed_by} ({version.digest[:16]})")
    _print_changes(version, console)
    console.print("next: another principal approves it (leaim policy approve), then it is activated")
    return 0


def _list(arguments: argparse.Namespace, console: Console) -> int:
    listed = _client(arguments).list(_kind(arguments), arguments.name)
    _print_head(listed.head, console)
    table = Table("version", "state", "digest", "proposed by", "approved by", "changes", "note")
    for version in listed.versions:
        table.add_row(
            str(version.version),
            version.state,
            version.digest[:12],
            version.proposed_by,
            version.approved_by or "-",
            str(len(version.changes)),
            version.note,
        )
    console.print(table)
    return 0


def _show(arguments: argparse.Namespace, console: Console) -> int:
    version = _client(arguments).version(_kind(arguments), arguments.name, arguments.version)
    if arguments.json:
        console.print_json(json.dumps(version.model_dump(mode="json")))
        return 0
    console.print(f"{version.subject} version {version.version}: {version.state}")
    console.print(f"digest {version.digest}, signed by key {version.key_id}, from {version.origin}")
    console.print(f"proposed by {version.proposed_by} at {version.proposed_at:%Y-%m-%d %H:%M:%S}: {version.note}")
    if version.approved_by is not None and version.approved_at is not None:
        console.print(f"approved by {version.approved_by} at {version.approved_at:%Y-%m-%d %H:%M:%S}")
    _print_changes(version, console)
    return 0


def _approve(arguments: argparse.Namespace, console: Console) -> int:
    version = _client(arguments).approve(_kind(arguments), arguments.name, arguments.version, arguments.reason)
    console.print(f"{version.subject} version {version.version} approved by {version.approved_by}")
    return 0


def _change(arguments: argparse.Namespace, console: Console) -> int:
    transition: dict[str, Any] = {"reason": arguments.reason}
    if arguments.expected_revision is not None:
        transition["expected_revision"] = arguments.expected_revision
    version = getattr(arguments, "version", None)
    head = _client(arguments).change(_kind(arguments), arguments.name, arguments.change, version, transition)
    _print_head(head, console)
    return 0


def _report(arguments: argparse.Namespace, console: Console) -> int:
    report = _client(arguments).shadow_report(
        arguments.name, arguments.version, since=arguments.since, until=arguments.until
    )
    rate = "-" if report.change_rate is None else f"{report.change_rate:.1%}"
    console.print(
        f"{report.use_case} version {report.shadow_version} in shadow: {report.decisions} decisions compared, "
        f"{report.changed} would change ({rate})"
    )
    table = Table("active outcome", "shadow outcome", "decisions")
    for shift in report.shifts:
        table.add_row(shift.active, shift.shadow, str(shift.count))
    console.print(table)
    return 0


def _print_head(head: PolicyHead, console: Console) -> None:
    previous = ", ".join(str(number) for number in head.previous) or "-"
    retired = ", ".join(str(number) for number in head.retired) or "-"
    console.print(
        f"{head.subject}: active {head.active or '-'}, shadow {head.shadow or '-'}, before {previous}, "
        f"retired {retired} (revision {head.revision})"
    )


def _print_changes(version: PolicyVersion, console: Console) -> None:
    if version.base_version is None:
        console.print("the first version: no diff")
        return
    if not version.changes:
        return
    table = Table("path", f"version {version.base_version}", f"version {version.version}", title="changes")
    for change in version.changes:
        table.add_row(change.path, json.dumps(change.before), json.dumps(change.after))
    console.print(table)
