"""A client of the policy registry's routes: use-case policies and dataset contracts, their versions and changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.policy.v1 import PolicyHead, PolicyList, PolicyShadowReport, PolicyVersion
from embedded.clients.base import ApiClient, segment, with_query

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from contracts.policy.v1 import PolicyKind

# Where each kind of policy lives in the API.
COLLECTIONS = {"use_case": ("use-cases", "policies"), "dataset": ("datasets", "contracts")}


class PolicyClient(ApiClient):
    """The policy registry's routes as methods; `kind` is `use_case` or `dataset`."""

    def propose(self, kind: PolicyKind, subject: str, document: Mapping[str, object], note: str) -> PolicyVersion:
        """Register a proposed version."""
        return self._call(PolicyVersion, "POST", _base(kind, subject), {"document": dict(document), "note": note})

    def list(self, kind: PolicyKind, subject: str) -> PolicyList:
        """The head and every version."""
        return self._call(PolicyList, "GET", _base(kind, subject))

    def version(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion:
        """One version."""
        return self._call(PolicyVersion, "GET", f"{_base(kind, subject)}/{version}")

    def approve(self, kind: PolicyKind, subject: str, version: int, reason: str) -> PolicyVersion:
        """Approve a version another principal proposed."""
        return self._call(PolicyVersion, "POST", f"{_base(kind, subject)}/{version}/approve", {"reason": reason})

    def change(
        self, kind: PolicyKind, subject: str, change: str, version: int | None, transition: Mapping[str, object]
    ) -> PolicyHead:
        """`activate`, `shadow` or `retire` a version, or `rollback` (version None); the head after it."""
        path = f"{_base(kind, subject)}/{change}" if version is None else f"{_base(kind, subject)}/{version}/{change}"
        return self._call(PolicyHead, "POST", path, dict(transition))

    def shadow_report(
        self, subject: str, version: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> PolicyShadowReport:
        """What a shadow version would have changed over `since` .. `until` (default: the last day)."""
        path = with_query(f"{_base('use_case', subject)}/{version}/shadow-report", {"since": since, "until": until})
        return self._call(PolicyShadowReport, "GET", path)


def _base(kind: PolicyKind, subject: str) -> str:
    collection, policies = COLLECTIONS[kind]
    return f"/v1/{collection}/{segment(subject)}/{policies}"
