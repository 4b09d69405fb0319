"""Lambda SnapStart for the decision functions: what a container does before its snapshot and after each restore.

A snapshot freezes the initialised container, and every restore resumes a copy of it. What must not be shared
between copies or carried over from the snapshot's time is dealt with here:

- randomness: Python's `random` (which OpenTelemetry's trace and span ids come from) is re-seeded from the OS,
  or every copy would give the same ids;
- connections: the AWS clients' pooled connections are closed before the snapshot and again after the restore,
  since a restored one points at a socket that no longer exists, and the decision path makes one attempt;
- caches: the traffic plans and API keys read before the snapshot are forgotten, so a version rolled back or a
  key revoked since is seen by the first request.

Outside Lambda the hooks are registered but never run; `run_restore_hooks` runs them, as a restore would.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any, Protocol

import snapshot_restore_py

if TYPE_CHECKING:
    from collections.abc import Sequence


class Forgetful(Protocol):
    """A per-container cache that can be dropped."""

    def forget(self) -> None:
        """Drop everything cached."""
        ...


def close_connections(clients: Sequence[Any]) -> None:
    """Close the pooled connections of boto3 clients; each opens a new one on its next call."""
    for client in clients:
        # botocore keeps its urllib3 pools on the endpoint's HTTP session, and offers no public way to close them.
        client._endpoint.http_session.close()


def after_restore(clients: Sequence[Any], caches: Sequence[Forgetful]) -> None:
    """Re-seed randomness, drop pooled connections and forget the caches, as a restored copy must."""
    random.seed(os.urandom(32))
    close_connections(clients)
    for cache in caches:
        cache.forget()


def register(clients: Sequence[Any], caches: Sequence[Forgetful]) -> None:
    """Register the hooks of a container whose `clients` and `caches` are built (at init, before the snapshot)."""
    snapshot_restore_py.register_before_snapshot(close_connections, clients)
    snapshot_restore_py.register_after_restore(after_restore, clients, caches)


def run_restore_hooks() -> int:
    """Run every registered after-restore hook, as Lambda does on a restore; returns how many ran."""
    hooks = snapshot_restore_py.get_after_restore()
    for hook, args, kwargs in hooks:
        hook(*args, **kwargs)
    return len(hooks)
