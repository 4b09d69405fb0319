"""Where the local stack of `leaim up` listens and which keys it gave out, read from its state folder.

Read as plain files, so that a client of a deployed API never imports the local stack and moto.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from typing import TYPE_CHECKING, TypeVar

from embedded.clients.base import ApiClient
from embedded.clients.exceptions import ApiTargetError

if TYPE_CHECKING:
    from pathlib import Path

Client = TypeVar("Client", bound=ApiClient)

# Where `leaim up` (`LocalWorld`) writes its keys and its stack's address under the state folder.
API_KEYS_FILE = "api-keys.json"
STACK_FILE = "stack/stack.json"
NO_LOCAL_STACK = "no local stack is running: start one with `leaim up` or pass --api-url and --api-key"


def local_client(
    kind: type[Client],
    state_dir: Path,
    role: str,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 120.0,
) -> Client:
    """A `kind` client of `api_url` with `api_key`; what is missing comes from the stack `leaim up` runs in `state_dir`.

    The local key of `role` is only used against the local stack's own URL. Raises `ApiTargetError` when no
    URL is given and no local stack runs, or when no key can be had for the URL.
    """
    local_url, local_keys = _local_stack(state_dir)
    url = api_url or local_url
    if url is None:
        raise ApiTargetError(NO_LOCAL_STACK)
    if api_key is not None:
        return kind(url, api_key, timeout_s=timeout_s)
    if local_url is None or url.rstrip("/") != local_url.rstrip("/"):
        raise ApiTargetError(f"pass --api-key with --api-url {url}")
    if role not in local_keys:
        raise ApiTargetError(f"{state_dir / API_KEYS_FILE} holds no {role} key: pass --api-key")
    return kind(url, local_keys[role], timeout_s=timeout_s)


def _local_stack(state_dir: Path) -> tuple[str | None, dict[str, str]]:
    """The API URL and keys of the local stack, or (None, {}) when none runs from `state_dir`.

    A stack that was killed leaves its state behind, so the URL only counts when something listens there.
    """
    stack_file, keys_file = state_dir / STACK_FILE, state_dir / API_KEYS_FILE
    if not stack_file.is_file() or not keys_file.is_file():
        return None, {}
    try:
        url = str(json.loads(stack_file.read_text(encoding="utf-8"))["api_url"])
        keys = json.loads(keys_file.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as error:
        raise ApiTargetError(
            f"{state_dir} holds an unreadable local stack state ({error}): {NO_LOCAL_STACK}"
        ) from error
    if not _listening(url):
        return None, {}
    return url, {str(role): str(key) for role, key in keys.items()}


def _listening(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
