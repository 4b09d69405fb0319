"""The embedded default's side of the audit trail: its digest signing key, and the running stack's archive and
accepted store.

Kept apart from the rest of the local stack so that `leaim audit verify` starts without importing it.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from leaim.governance.audit.sealing import DigestSigner

if TYPE_CHECKING:
    from pathlib import Path

# The Ed25519 key that signs audit digests on this machine, in the state folder.
AUDIT_SIGNING_KEY = "audit-signing.pem"
# Where `leaim up` records its stack (embedded.emulation.stack.STATE_FILE, under the world's `stack` folder).
STACK_STATE = "stack/stack.json"
# moto's server takes any credentials; these keep boto3 from looking for real ones.
_MOTO_CREDENTIAL = "testing"


def audit_signer(state_dir: Path) -> DigestSigner:
    """The key that signs audit digests on this machine (`state_dir/audit-signing.pem`), made on first use."""
    path = state_dir / AUDIT_SIGNING_KEY
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(DigestSigner.generate().pem())
        path.chmod(0o600)
    return DigestSigner.from_pem(path.read_bytes())


def running_resource(state_dir: Path, logical_id: str, service: str) -> tuple[str, Any] | None:
    """A resource of the stack `leaim up` runs from `state_dir` (its name: a bucket, a table), and a client of its
    AWS `service` at the stack's endpoint; None if none runs."""
    try:
        state = json.loads((state_dir / STACK_STATE).read_text(encoding="utf-8"))
        endpoint, region = str(state["endpoint_url"]), str(state["region"])
        name = str(state["resources"][logical_id]["ref"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # A stack that was killed leaves its state behind: it only counts while something listens there.
    address = urlsplit(endpoint)
    try:
        socket.create_connection((address.hostname, address.port), timeout=0.5).close()
    except OSError:
        return None
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=_MOTO_CREDENTIAL, aws_secret_access_key=_MOTO_CREDENTIAL, region_name=region
    )
    return name, session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]
