"""The policy registry: use-case manifests and dataset contracts as proposed, approved, signed, activated versions.

A version is proposed by one principal and approved by another (four eyes); only an approved version is
activated. Every version is immutable once registered and signed over its number and the digest of its
document; its diff against the version it follows is kept beside it. The head of each policy names the active
version, the shadow version (a use case's candidate policy, evaluated beside the active one on live traffic), the
versions active before (what a rollback restores) and the retired ones. Each change of a head names the revision
it read, so of two concurrent activations one wins and the other is refused.

The bootstrap files (`contracts/use_cases`, `contracts/datasets`) are seeded into the registry: a file whose
document is not registered yet becomes a new version, proposed by `file:<name>` and approved by `deploy` (it was
reviewed where the file lives), and is activated. A file already registered changes nothing, so a version
activated through the API stays active across restarts and deploys.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from contracts.dataset.v1 import DatasetContract
from contracts.error.v1 import FieldError
from contracts.manifest.v1 import UseCaseManifest
from contracts.policy.v1 import (
    OutcomeShift,
    PolicyHead,
    PolicyList,
    PolicyProposal,
    PolicyShadowReport,
    PolicyTransition,
    PolicyVersion,
)
from leaim.data.datasets import additive_problems, feed_problems
from leaim.domain.manifests import located_problems
from leaim.domain.policies import accepted_versions, document_changes, policy_digest
from leaim.exceptions import ConfigurationError, ConflictError, LeaimError, NotFoundError, RevisionConflictError
from leaim.governance.access.exceptions import ForbiddenError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pydantic import BaseModel

    from contracts.policy.v1 import PolicyKind
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.lifecycle.ports import PolicyStore, ShadowOutcomeSource
    from leaim.lifecycle.signing import PolicySigner

logger = logging.getLogger(__name__)

# Who a seeded version is approved by: the deploy that shipped its file.
DEPLOY = "deploy"
CONTRACTS: dict[str, type[BaseModel]] = {"use_case": UseCaseManifest, "dataset": DatasetContract}
_SEEDING = PolicyTransition(reason="seeded from its bootstrap file")


class InvalidPolicyError(LeaimError):
    """A proposed document does not validate; `fields` names each problem by its path."""

    code = "invalid_policy"
    status = 422

    def __init__(self, fields: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in fields))
        self.fields = fields


class PolicyStateError(ConflictError):
    """A change the version's state does not allow: activating an unapproved or retired version, and the like."""

    code = "policy_state"
    status = 409


class PolicyModelMismatchError(ConflictError):
    """The live model of the use case does not take the features the version declares."""

    code = "policy_model_mismatch"
    status = 409


class PolicyUnchangedError(ConflictError):
    """The proposed document is registered already."""

    code = "policy_unchanged"
    status = 409


class FourEyesError(ForbiddenError):
    """The principal that proposed a version may not approve it."""

    code = "four_eyes"


def problem_fields(error: ValidationError, document: dict[str, Any]) -> list[FieldError]:
    """A contract's errors as FieldErrors under `document.`, one per problem, each at the path of the value at
    fault (a validator's joined problems split, as `leaim use-case validate` names them)."""
    return [
        FieldError(
            field=".".join(["document", *(str(part) for part in problem.location)]),
            message=problem.message,
            type=problem.type,
        )
        for problem in located_problems(error, document)
    ]


class PolicyRegistry:
    """Proposes, approves, activates, shadows, rolls back and retires policy versions; seeds the bootstrap files."""

    def __init__(
        self,
        *,
        store: PolicyStore,
        signer: PolicySigner,
        manifests: ManifestCatalog,
        live_features: Callable[[str], Sequence[str] | None],
        shadow_outcomes: ShadowOutcomeSource | None,
        clock: Clock,
    ) -> None:
        """`live_features(use_case)` names the features of the use case's champion (None before its first)."""
        self._store = store
        self._signer = signer
        self._manifests = manifests
        self._live_features = live_features
        self._shadow_outcomes = shadow_outcomes
        self._clock = clock

    def propose(
        self, kind: PolicyKind, subject: str, proposal: PolicyProposal, *, actor: str, origin: str = "api"
    ) -> PolicyVersion:
        """Register the proposal as the next version; InvalidPolicyError names each problem, nothing registered."""
        document = self._validated(kind, subject, proposal.document)
        head = self._store.head(kind, subject) or PolicyHead(kind=kind, subject=subject)
        digest = policy_digest(document)
        if digest in head.digests:
            raise PolicyUnchangedError(f"this document is version {head.digests[digest]} of {subject!r} already")
        number = head.latest + 1
        if kind == "dataset":
            self._check_dataset(subject, document, head, number)
        base_number = head.active if head.active is not None else (head.latest or None)
        base = self._store.version(kind, subject, base_number) if base_number else None
        now = self._now()
        version = PolicyVersion(
            kind=kind,
            subject=subject,
            version=number,
            digest=digest,
            document=document,
            key_id=self._signer.key_id,
            signature=self._signer.sign(kind, subject, number, digest),
            origin=origin,
            note=proposal.note,
            proposed_by=actor,
            proposed_at=now,
            base_version=base.version if base else None,
            changes=document_changes(base.document, document) if base else [],
        )
        changed = head.model_copy(
            update={
                "latest": number,
                "digests": {**head.digests, digest: number},
                "revision": head.revision + 1,
                "changed_by": actor,
                "changed_at": now,
            }
        )
        self._store.register(version, changed, expected_revision=head.revision)
        return version

    def list(self, kind: PolicyKind, subject: str) -> PolicyList:
        """The head and every version, newest first; NotFoundError for a policy never registered."""
        head = self._head(kind, subject)
        versions = [self._stated(head, version) for version in self._store.versions(kind, subject)]
        return PolicyList(head=head, versions=sorted(versions, key=lambda v: v.version, reverse=True))

    def get(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion:
        """One version with its state; NotFoundError when there is none."""
        head = self._head(kind, subject)
        return self._stated(head, self._version(kind, subject, version))

    def verifies(self, version: PolicyVersion) -> bool:
        """Whether the version's signature holds over its number and document."""
        return self._signer.verifies(version)

    def approve(
        self, kind: PolicyKind, subject: str, version: int, transition: PolicyTransition, *, actor: str
    ) -> PolicyVersion:
        """Approve a proposed version; FourEyesError (403) for its proposer."""
        head = self._head(kind, subject)
        self._check_revision(head, transition)
        found = self._version(kind, subject, version)
        if found.approved_by is not None:
            raise PolicyStateError(f"version {version} of {subject!r} was approved by {found.approved_by} already")
        if version in head.retired:
            raise PolicyStateError(f"version {version} of {subject!r} is retired")
        if found.proposed_by == actor:
            raise FourEyesError(f"{actor} proposed version {version} of {subject!r}: another principal approves it")
        self._store.approve(kind, subject, version, approved_by=actor, approved_at=self._now(), note=transition.reason)
        return self.get(kind, subject, version)

    def activate(
        self, kind: PolicyKind, subject: str, version: int, transition: PolicyTransition, *, actor: str
    ) -> tuple[PolicyHead, PolicyHead]:
        """Make an approved version the active one; the one before is kept for a rollback. (before, after)"""
        head = self._head(kind, subject)
        self._check_revision(head, transition)
        found = self._version(kind, subject, version)
        if version == head.active:
            raise PolicyStateError(f"version {version} of {subject!r} is active already")
        if version in head.retired:
            raise PolicyStateError(f"version {version} of {subject!r} is retired")
        if found.approved_by is None:
            raise PolicyStateError(f"version {version} of {subject!r} is not approved: another principal approves it")
        self._check_servable(found)
        previous = [*head.previous, head.active] if head.active is not None else list(head.previous)
        changed = self._changed(
            head,
            actor,
            active=version,
            previous=[number for number in previous if number != version],
            shadow=None if head.shadow == version else head.shadow,
        )
        return head, changed

    def shadow(
        self, subject: str, version: int, transition: PolicyTransition, *, actor: str
    ) -> tuple[PolicyHead, PolicyHead]:
        """Run a use case's proposed or approved version in shadow: the active one decides, this one is compared."""
        head = self._head("use_case", subject)
        self._check_revision(head, transition)
        found = self._version("use_case", subject, version)
        if version == head.active:
            raise PolicyStateError(f"version {version} of {subject!r} is the active version")
        if version in head.retired:
            raise PolicyStateError(f"version {version} of {subject!r} is retired")
        if head.active is None:
            raise PolicyStateError(f"{subject!r} has no active version to compare a shadow version with")
        self._check_servable(found)
        return head, self._changed(head, actor, shadow=version)

    def rollback(
        self, kind: PolicyKind, subject: str, transition: PolicyTransition, *, actor: str
    ) -> tuple[PolicyHead, PolicyHead]:
        """Make the version active before the active one active again."""
        head = self._head(kind, subject)
        self._check_revision(head, transition)
        candidates = [number for number in head.previous if number not in head.retired]
        if not candidates:
            raise PolicyStateError(f"{subject!r} has no earlier active version to roll back to")
        target = candidates[-1]
        self._check_servable(self._version(kind, subject, target))
        previous = [number for number in head.previous if number != target]
        return head, self._changed(head, actor, active=target, previous=previous)

    def retire(
        self, kind: PolicyKind, subject: str, version: int, transition: PolicyTransition, *, actor: str
    ) -> tuple[PolicyHead, PolicyHead]:
        """Retire a version that is not active: it is never activated, shadowed or rolled back to again."""
        head = self._head(kind, subject)
        self._check_revision(head, transition)
        self._version(kind, subject, version)
        if version == head.active:
            raise PolicyStateError(
                f"version {version} of {subject!r} is active: activate or roll back to another first"
            )
        if version in head.retired:
            raise PolicyStateError(f"version {version} of {subject!r} is retired already")
        shadow = None if head.shadow == version else head.shadow
        return head, self._changed(head, actor, retired=sorted({*head.retired, version}), shadow=shadow)

    def shadow_report(self, subject: str, version: int, since: datetime, until: datetime) -> PolicyShadowReport:
        """How the decisions made while `version` ran in shadow would have changed under it, by outcome."""
        self._version("use_case", subject, version)
        if self._shadow_outcomes is None:
            raise ConfigurationError("the shadow report needs the audit store")
        compared = self._shadow_outcomes.shadow_outcomes(subject, version, since, until)
        shifts = Counter((active, shadow) for _, active, shadow in compared)
        changed = sum(count for (active, shadow), count in shifts.items() if active != shadow)
        return PolicyShadowReport(
            use_case=subject,
            shadow_version=version,
            active_versions=sorted({number for number, _, _ in compared}),
            since=since,
            until=until,
            decisions=len(compared),
            changed=changed,
            change_rate=round(changed / len(compared), 4) if compared else None,
            shifts=[
                OutcomeShift(active=active, shadow=shadow, count=count)
                for (active, shadow), count in sorted(shifts.items())
            ],
        )

    def seed(self, kind: PolicyKind, document: dict[str, Any], *, origin: str) -> PolicyVersion | None:
        """Register and activate a bootstrap file whose document is not registered yet; None when it is.

        A file whose version the live model cannot serve is registered and approved, left for a person to
        activate, and a warning logged. ConfigurationError when the file does not validate.
        """
        try:
            validated = CONTRACTS[kind].model_validate(document)
        except ValidationError as error:
            problems = "; ".join(f"{item.field}: {item.message}" for item in problem_fields(error, document))
            raise ConfigurationError(f"{origin}: {problems}") from error
        subject = str(getattr(validated, "name" if kind == "use_case" else "dataset"))
        head = self._store.head(kind, subject)
        if head is not None and policy_digest(validated.model_dump(mode="json")) in head.digests:
            return None
        try:
            version = self.propose(kind, subject, PolicyProposal(document=document), actor=origin, origin=origin)
        except InvalidPolicyError as error:
            raise ConfigurationError(f"{origin}: {error}") from error
        except (PolicyUnchangedError, RevisionConflictError):
            # Another container seeded it first.
            return None
        self._store.approve(kind, subject, version.version, approved_by=DEPLOY, approved_at=self._now(), note=origin)
        try:
            self.activate(kind, subject, version.version, _SEEDING, actor=DEPLOY)
        except (PolicyModelMismatchError, RevisionConflictError) as error:
            logger.warning("%s registered as version %s, not activated: %s", origin, version.version, error)
        return version

    def _validated(self, kind: PolicyKind, subject: str, document: dict[str, Any]) -> dict[str, Any]:
        try:
            contract = CONTRACTS[kind].model_validate(document)
        except ValidationError as error:
            raise InvalidPolicyError(problem_fields(error, document)) from error
        named = getattr(contract, "name" if kind == "use_case" else "dataset")
        if named != subject:
            field = "document.name" if kind == "use_case" else "document.dataset"
            raise InvalidPolicyError(
                [FieldError(field=field, message=f"names {named!r}, not {subject!r}", type="value_error")]
            )
        return contract.model_dump(mode="json")

    def _check_dataset(self, subject: str, document: dict[str, Any], head: PolicyHead, number: int) -> None:
        contract = DatasetContract.model_validate(document)
        problems: list[FieldError] = []
        if contract.version != f"v{number}":
            problems.append(
                FieldError(
                    field="document.version",
                    message=f"the next version of {subject!r} is v{number}",
                    type="value_error",
                )
            )
        if head.latest:
            earlier = DatasetContract.model_validate(self._version("dataset", subject, head.latest).document)
            problems += [
                FieldError(field="document.fields", message=p, type="value_error")
                for p in additive_problems(earlier, contract)
            ]
        problems += [
            FieldError(field="document.use_case", message=p, type="value_error")
            for p in feed_problems(contract, self._current_manifests())
        ]
        if problems:
            raise InvalidPolicyError(problems)

    def _check_servable(self, version: PolicyVersion) -> None:
        """The version's signature must hold, and a use case's live model must take the features it declares."""
        if not self._signer.verifies(version):
            raise PolicyStateError(
                f"version {version.version} of {version.subject!r} does not verify against its signature"
            )
        if version.kind == "dataset":
            problems = feed_problems(DatasetContract.model_validate(version.document), self._current_manifests())
            if problems:
                raise PolicyStateError("; ".join(problems))
            return
        manifest = UseCaseManifest.model_validate(version.document)
        live = self._live_features(version.subject)
        if live is None or list(live) == manifest.feature_names:
            return
        missing = [name for name in manifest.feature_names if name not in live]
        extra = [name for name in live if name not in manifest.feature_names]
        raise PolicyModelMismatchError(
            f"the live model of {version.subject!r} takes {list(live)}, version {version.version} declares "
            f"{manifest.feature_names} (not taken: {missing or 'none'}; not declared: {extra or 'none'}, or another "
            "order): train and promote a model on them first"
        )

    def _current_manifests(self) -> ManifestCatalog:
        """The catalog as the registry holds it now: a use case activated a moment ago, in this container or another,
        is there (the catalog's cached heads are read again)."""
        self._manifests.forget()
        return self._manifests

    def _changed(self, head: PolicyHead, actor: str, **update: Any) -> PolicyHead:
        changed = head.model_copy(
            update={**update, "revision": head.revision + 1, "changed_by": actor, "changed_at": self._now()}
        )
        self._store.put_head(changed, expected_revision=head.revision)
        return changed

    def _check_revision(self, head: PolicyHead, transition: PolicyTransition) -> None:
        if transition.expected_revision is not None and transition.expected_revision != head.revision:
            raise RevisionConflictError(
                f"the policy {head.subject!r} is at revision {head.revision}, not {transition.expected_revision}"
            )

    def _head(self, kind: PolicyKind, subject: str) -> PolicyHead:
        head = self._store.head(kind, subject)
        if head is None:
            raise NotFoundError(f"no {kind.replace('_', ' ')} policy {subject!r} is registered")
        return head

    def _version(self, kind: PolicyKind, subject: str, version: int) -> PolicyVersion:
        found = self._store.version(kind, subject, version)
        if found is None:
            raise NotFoundError(f"{subject!r} has no registered version {version}")
        return found

    def _stated(self, head: PolicyHead, version: PolicyVersion) -> PolicyVersion:
        state = head.state_of(version.version, version.approved_by is not None)
        if head.kind == "dataset" and state == "superseded" and version.version in accepted_versions(head):
            state = "active"
        return version.model_copy(update={"state": state})

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)
