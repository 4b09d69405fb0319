"""The policy registry's API, independent of the web framework: `/v1/use-cases/{use_case}/policies` and
`/v1/datasets/{dataset}/contracts`.

Every invocation stores one audit event naming its principal; a change's event records the version, its digest
and the head before and after, so the trail shows who changed which policy when, and why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from contracts.policy.v1 import PolicyProposal, PolicyTransition
from leaim.exceptions import NotFoundError
from leaim.governance.access.exceptions import InvalidRequestError
from leaim.governance.access.gate import GovernedHttp, HttpAnswer, report_range
from leaim.governance.access.policy import Permission, require_dataset, require_use_case
from leaim.lifecycle.policies import InvalidPolicyError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pydantic import BaseModel

    from contracts.policy.v1 import PolicyHead, PolicyKind
    from leaim.governance.access.gate import HttpGate, Invocation
    from leaim.governance.audit.events import InvocationAudit
    from leaim.governance.ports import Principal
    from leaim.lifecycle.policies import PolicyRegistry

# A shadow report covers the last day unless the query says otherwise.
DEFAULT_WINDOW = timedelta(hours=24)
_NOUN = {"use_case": "policy", "dataset": "contract"}


def _number(version: str, subject: str) -> int:
    """A path's version number; anything else names no version."""
    if not version.isdigit() or int(version) < 1:
        raise NotFoundError(f"{subject!r} has no registered version {version!r}")
    return int(version)


def _head_details(change: str, before: PolicyHead, after: PolicyHead, reason: str) -> dict[str, Any]:
    return {
        "change": change,
        "reason": reason,
        "before": before.model_dump(mode="json", include={"active", "shadow", "previous", "retired", "revision"}),
        "after": after.model_dump(mode="json", include={"active", "shadow", "previous", "retired", "revision"}),
    }


class PolicyApi(GovernedHttp):
    """Propose, approve, activate, shadow, roll back and retire use-case policies and dataset contracts."""

    def __init__(self, *, registry: PolicyRegistry, gate: HttpGate) -> None:
        super().__init__(gate)
        self._registry = registry

    def propose(self, kind: PolicyKind, subject: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Register a proposed version; 422 naming each problem of the document, nothing registered."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            proposal = self._parse(PolicyProposal, self._json(body, invocation), "a policy proposal")
            try:
                version = self._registry.propose(kind, subject, proposal, actor=principal.name)
            except InvalidPolicyError as error:
                raise InvalidRequestError(
                    f"the document is not a valid {kind.replace('_', ' ')}", error.fields
                ) from error
            return version, {
                "kind": kind,
                "subject": subject,
                "version": version.version,
                "digest": version.digest,
                "changes": len(version.changes),
                "note": version.note,
            }

        return self._policy(invocation, kind, subject, "propose", Permission.PROPOSE_POLICIES, work, status=201)

    def list(self, kind: PolicyKind, subject: str, invocation: Invocation) -> HttpAnswer:
        """The head and every version."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            listed = self._registry.list(kind, subject)
            return listed, {"kind": kind, "subject": subject, "versions": len(listed.versions)}

        return self._policy(invocation, kind, subject, "list", Permission.READ_POLICIES, work)

    def read(self, kind: PolicyKind, subject: str, version: str, invocation: Invocation) -> HttpAnswer:
        """One version, its document, signature, diff and state."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            found = self._registry.get(kind, subject, _number(version, subject))
            return found, {"kind": kind, "subject": subject, "version": found.version, "state": found.state}

        return self._policy(invocation, kind, subject, "read", Permission.READ_POLICIES, work)

    def approve(self, kind: PolicyKind, subject: str, version: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Approve a version another principal proposed."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            transition = self._transition(body, invocation)
            found = self._registry.approve(kind, subject, _number(version, subject), transition, actor=principal.name)
            details = {"kind": kind, "subject": subject, "version": found.version, "digest": found.digest}
            return found, {**details, "proposed_by": found.proposed_by, "reason": transition.reason}

        return self._policy(invocation, kind, subject, "approve", Permission.APPROVE_POLICIES, work)

    def activate(self, kind: PolicyKind, subject: str, version: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Make an approved version the active one."""
        return self._change(
            invocation,
            kind,
            subject,
            "activate",
            body,
            lambda transition, actor: self._registry.activate(
                kind, subject, _number(version, subject), transition, actor=actor
            ),
        )

    def shadow(self, subject: str, version: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Run a use case's version in shadow beside the active one."""
        return self._change(
            invocation,
            "use_case",
            subject,
            "shadow",
            body,
            lambda transition, actor: self._registry.shadow(
                subject, _number(version, subject), transition, actor=actor
            ),
        )

    def rollback(self, kind: PolicyKind, subject: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Make the version active before the active one active again."""
        return self._change(
            invocation,
            kind,
            subject,
            "rollback",
            body,
            lambda transition, actor: self._registry.rollback(kind, subject, transition, actor=actor),
        )

    def retire(self, kind: PolicyKind, subject: str, version: str, body: bytes, invocation: Invocation) -> HttpAnswer:
        """Retire a version that is not active."""
        return self._change(
            invocation,
            kind,
            subject,
            "retire",
            body,
            lambda transition, actor: self._registry.retire(
                kind, subject, _number(version, subject), transition, actor=actor
            ),
        )

    def shadow_report(self, subject: str, version: str, query: Mapping[str, str], invocation: Invocation) -> HttpAnswer:
        """What a shadow version would have changed, by outcome, over `since` .. `until` (default: the last day)."""

        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            since, until = report_range(query, self._clock.now(), DEFAULT_WINDOW)
            report = self._registry.shadow_report(subject, _number(version, subject), since, until)
            return report, {"version": report.shadow_version, "decisions": report.decisions, "changed": report.changed}

        return self._policy(invocation, "use_case", subject, "shadow_report", Permission.READ_POLICIES, work)

    def _change(
        self,
        invocation: Invocation,
        kind: PolicyKind,
        subject: str,
        change: str,
        body: bytes,
        apply: Callable[[PolicyTransition, str], tuple[PolicyHead, PolicyHead]],
    ) -> HttpAnswer:
        def work(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            transition = self._transition(body, invocation)
            before, after = apply(transition, principal.name)
            return after, {"kind": kind, "subject": subject, **_head_details(change, before, after, transition.reason)}

        return self._policy(invocation, kind, subject, change, Permission.ACTIVATE_POLICIES, work)

    def _transition(self, body: bytes, invocation: Invocation) -> PolicyTransition:
        return self._parse(PolicyTransition, self._json(body or b"{}", invocation), "a policy change")

    def _policy(
        self,
        invocation: Invocation,
        kind: PolicyKind,
        subject: str,
        verb: str,
        permission: Permission,
        work: Callable[[Principal, InvocationAudit], tuple[BaseModel, dict[str, Any]]],
        *,
        status: int = 200,
    ) -> HttpAnswer:
        """Serve one route on `subject`: the key must be scoped to it (404 as for an unknown one otherwise)."""

        def scoped(principal: Principal, audit: InvocationAudit) -> tuple[BaseModel, dict[str, Any]]:
            if kind == "use_case":
                require_use_case(principal, subject)
            else:
                require_dataset(principal, subject)
            return work(principal, audit)

        subject_note = {"use_case": subject} if kind == "use_case" else {}
        action = f"policy.{verb}" if kind == "use_case" else f"dataset_contract.{verb}"
        return self._serve(
            invocation,
            action,
            permission,
            {_NOUN[kind]: subject},
            scoped,
            status=status,
            subject=subject_note,
        )
