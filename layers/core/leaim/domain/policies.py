"""Registered policies as every function reads them: the versions of use-case manifests and dataset contracts.

The registry (`leaim.lifecycle.policies`) writes versions and heads; every function that serves a use case or a
dataset reads them through `LivePolicies`, which keeps what it read for `ttl_s` seconds. A version's document
never changes once registered, so a version read once is kept for the container's life; only the heads (which
version is active, which runs in shadow) are read again. An activation therefore takes effect everywhere within
the cache time, with no deploy and no restart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import TYPE_CHECKING, Protocol

from contracts.policy.v1 import PolicyChange
from leaim.exceptions import LeaimError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pydantic import JsonValue

    from contracts.policy.v1 import PolicyHead, PolicyKind, PolicyVersion

logger = logging.getLogger(__name__)

# The statement a version's signature covers, as `policy_statement` writes it.
STATEMENT = "policy.v1|{kind}|{subject}|{version}|{digest}"


def canonical_json(document: Mapping[str, JsonValue]) -> bytes:
    """The document as canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def policy_digest(document: Mapping[str, JsonValue]) -> str:
    """sha256 of the document's canonical JSON, in hex."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def policy_statement(kind: str, subject: str, version: int, digest: str) -> bytes:
    """What a version's signature signs: its kind, subject, number and digest."""
    return STATEMENT.format(kind=kind, subject=subject, version=version, digest=digest).encode()


def document_changes(before: JsonValue, after: JsonValue, path: str = "") -> list[PolicyChange]:
    """Every leaf that differs between two documents, by dotted path (list items by index)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[PolicyChange] = []
        for key in sorted(set(before) | set(after)):
            inner = f"{path}.{key}" if path else key
            changes += document_changes(before.get(key), after.get(key), inner)
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changes = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            changes += document_changes(old, new, f"{path}.{index}" if path else str(index))
        return changes
    if before == after:
        return []
    return [PolicyChange(path=path or "(document)", before=before, after=after)]


def accepted_versions(head: PolicyHead) -> list[int]:
    """The versions a dataset accepts records of: the active one and those active before it, less the retired."""
    found = [*head.previous, *([head.active] if head.active is not None else [])]
    return sorted({version for version in found if version not in head.retired})


class PolicyReader(Protocol):
    """Reads the registered heads and versions."""

    def heads(self, kind: PolicyKind) -> list[PolicyHead]:
        """The head of every policy of `kind`."""
        ...

    def head(self, kind: PolicyKind, subject: str) -> PolicyHead | None:
        """The head of one policy, or None before its first version."""
        ...

    def version(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion | None:
        """One registered version, or None."""
        ...


class PoliciesUnavailableError(LeaimError):
    """The policy registry did not answer and nothing was read from it before."""

    code = "dependency_unavailable"
    status = 503


class LivePolicies:
    """The registry's heads, read again after `ttl_s` seconds, and its versions, each read once.

    When the registry does not answer, the heads read last are kept (a warning is logged): a decision is then made
    by the version that was active a moment ago rather than refused. Before anything was read, it raises
    `PoliciesUnavailableError`.
    """

    def __init__(self, reader: PolicyReader, *, monotonic: Callable[[], float], ttl_s: float) -> None:
        self._reader = reader
        self._monotonic = monotonic
        self._ttl_s = ttl_s
        self._heads: dict[str, tuple[float, dict[str, PolicyHead]]] = {}
        self._versions: dict[tuple[str, str, int], PolicyVersion] = {}
        self._lock = threading.Lock()

    def heads(self, kind: PolicyKind) -> dict[str, PolicyHead]:
        """The heads of `kind` by subject, at most `ttl_s` seconds old while the registry answers."""
        now = self._monotonic()
        with self._lock:
            cached = self._heads.get(kind)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        try:
            fresh = {head.subject: head for head in self._reader.heads(kind)}
        except LeaimError as error:
            if cached is None:
                raise PoliciesUnavailableError(f"the policy registry could not be read: {error}") from error
            logger.warning("policy registry unreadable, keeping the heads read before: %s", error)
            return cached[1]
        with self._lock:
            self._heads[kind] = (now, fresh)
        return fresh

    def version(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion | None:
        """One version; a version found is kept, as its document never changes."""
        key = (kind, subject, version)
        with self._lock:
            found = self._versions.get(key)
        if found is not None:
            return found
        found = self._reader.version(kind, subject, version)
        if found is not None:
            with self._lock:
                self._versions[key] = found
        return found

    def forget(self) -> None:
        """Read the heads again on the next call."""
        with self._lock:
            self._heads.clear()
