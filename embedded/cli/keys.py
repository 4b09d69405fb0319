"""`leaim keys create|list|rotate|revoke`: API key management, each change audited.

On the local stack the commands find the key table and the accepted store of the running `leaim up`; deployed,
`--keys-table`, `--accepted-table` (and `--endpoint-url`) name them, and the operator is the AWS identity the
command runs as. A new secret is printed once and never stored.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedded.cli.exceptions import ApiUsageError
from embedded.cli.options import count
from leaim.governance.access.plans import DEFAULT_PLAN, PLANS
from leaim.governance.access.policy import ROLE_PERMISSIONS

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands
    from leaim.governance.access.keys import KeyAdministration
    from leaim.governance.ports import ApiKeyRecord


def register(commands: Commands) -> None:
    """Add `keys create`, `keys list`, `keys rotate` and `keys revoke`."""
    keys = commands.add_parser("keys", help="make, list, rotate and revoke API keys (every change audited)")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="make a key scoped to use cases and datasets; prints its secret once")
    create.add_argument("--principal", required=True, help="who the key authenticates as, e.g. checkout-service")
    create.add_argument("--role", required=True, choices=sorted(ROLE_PERMISSIONS), help="what the key may do")
    create.add_argument(
        "--use-case", action="append", default=[], help="a use case the key may touch (repeatable; * for every one)"
    )
    create.add_argument(
        "--dataset", action="append", default=[], help="a dataset the key may touch (repeatable; * for every one)"
    )
    create.add_argument(
        "--plan", choices=list(PLANS), default=DEFAULT_PLAN, help=f"rate plan (default: {DEFAULT_PLAN})"
    )
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="every key with its grants and status (never a secret)")
    listing.add_argument("--json", action="store_true", help="print the keys as JSON")
    listing.set_defaults(run=_list)
    rotate = actions.add_parser("rotate", help="a new secret for a key, same grants; prints it once")
    rotate.add_argument("key_id")
    rotate.add_argument(
        "--grace",
        type=count,
        default=0,
        help="seconds the secret before stays valid, for callers to switch (default 0)",
    )
    rotate.set_defaults(run=_rotate)
    revoke = actions.add_parser("revoke", help="refuse every secret of a key from now on")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_revoke)
    for command in (create, listing, rotate, revoke):
        command.add_argument("--keys-table", help="the API key table (default: the running local stack's)")
        command.add_argument("--accepted-table", help="the accepted store changes are audited into (default: local)")
        command.add_argument("--endpoint-url", help="AWS endpoint of the two tables (default: AWS's)")
        command.add_argument("--use-cases-dir", type=Path, help="the use cases scopes are checked against")
        command.add_argument(
            "--policies-table", help="the policy registry scopes are checked against (default: the local stack's)"
        )


def _create(arguments: argparse.Namespace, console: Console) -> int:
    issued = _administration(arguments).create(
        principal=arguments.principal,
        role=arguments.role,
        use_cases=arguments.use_case,
        datasets=arguments.dataset,
        plan=arguments.plan,
    )
    _print(console, f"{issued.record.key_id}: {_grants(issued.record)}")
    _print(console, f"secret (shown once): {issued.secret}")
    return 0


def _list(arguments: argparse.Namespace, console: Console) -> int:
    summaries = _administration(arguments).list()
    if arguments.json:
        rows = [{**_row(summary.record), "status": summary.status} for summary in summaries]
        _print(console, json.dumps(rows, indent=2))
        return 0
    for summary in summaries:
        _print(console, f"{summary.record.key_id} {summary.status:<8} {_grants(summary.record)}")
    return 0


def _rotate(arguments: argparse.Namespace, console: Console) -> int:
    issued = _administration(arguments).rotate(arguments.key_id, grace=timedelta(seconds=arguments.grace))
    grace = (
        f"; the secret before stays valid {arguments.grace} s" if arguments.grace else "; the secret before is refused"
    )
    _print(console, f"{issued.record.key_id} rotated to generation {issued.record.generation}{grace}")
    _print(console, f"secret (shown once): {issued.secret}")
    return 0


def _revoke(arguments: argparse.Namespace, console: Console) -> int:
    record = _administration(arguments).revoke(arguments.key_id)
    _print(console, f"{record.key_id} revoked: refused by every function within its key cache time")
    return 0


def _administration(arguments: argparse.Namespace) -> KeyAdministration:
    from leaim.bootstrap.keys import build_key_administration

    if arguments.keys_table or arguments.accepted_table:
        if not (arguments.keys_table and arguments.accepted_table):
            raise ApiUsageError("--keys-table and --accepted-table go together")
        import boto3

        client = boto3.client("dynamodb", endpoint_url=arguments.endpoint_url)
        keys_table, accepted_table = arguments.keys_table, arguments.accepted_table
        policies_table = arguments.policies_table
        operator = _aws_identity(arguments.endpoint_url)
    else:
        keys_table, accepted_table, policies_table, client = _local_tables(arguments.state_dir.resolve())
        operator = "local-key-admin"
    return build_key_administration(
        keys_table=keys_table,
        accepted_table=accepted_table,
        dynamodb=client,
        operator=operator,
        use_cases_dir=arguments.use_cases_dir,
        policies_table=policies_table,
    )


def _local_tables(state_dir: Path) -> tuple[str, str, str | None, Any]:
    from embedded.emulation.trail import running_resource

    keys = running_resource(state_dir, "ApiKeysTable", "dynamodb")
    accepted = running_resource(state_dir, "AcceptedTable", "dynamodb")
    if keys is None or accepted is None:
        raise ApiUsageError(f"no local stack runs from {state_dir}: start `leaim up`, or pass --keys-table")
    policies = running_resource(state_dir, "PoliciesTable", "dynamodb")
    return keys[0], accepted[0], None if policies is None else policies[0], keys[1]


def _aws_identity(endpoint_url: str | None) -> str:
    """The ARN of the AWS identity the command runs as: the operator every change's audit event names."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(boto3.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError) as error:
        raise ApiUsageError(f"cannot tell who runs the command (sts get-caller-identity): {error}") from error


def _grants(record: ApiKeyRecord) -> str:
    use_cases = ",".join(record.use_cases) or "-"
    datasets = ",".join(record.datasets) or "-"
    return f"{record.principal} ({record.role}) use cases {use_cases}; datasets {datasets}; plan {record.plan}"


def _row(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "principal": record.principal,
        "role": record.role,
        "use_cases": list(record.use_cases),
        "datasets": list(record.datasets),
        "plan": record.plan,
        "generation": record.generation,
        "created_at": record.created_at.isoformat(),
        "created_by": record.created_by,
        "expires_at": None if record.expires_at is None else record.expires_at.isoformat(),
        "revoked_at": None if record.revoked_at is None else record.revoked_at.isoformat(),
    }


def _print(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)
