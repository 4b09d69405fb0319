"""Access policy: which role may do what, to which objects. Authentication maps an API key to a principal.

Three checks make up the policy, in this order:
1. the role holds the route's permission (`ROLE_PERMISSIONS`), else 403;
2. the key is scoped to the use case or dataset the route touches (`Principal.may_use`, `may_touch`);
3. for a decision and what hangs off it (its explanation, outcome, review and replay), the caller made it or its role is
   granted that kind of access to the decisions of use cases in its scope (`OBJECT_GRANTS`).
A caller failing 2 or 3 is answered 404 with the same body as for an object that does not exist: it is not told
that the object exists.

What a read shows of an object it reaches is narrowed once more, field by field: the values of fields marked
`pii` or `protected` are masked unless the role is granted that class of field (`FIELD_GRANTS`, applied by
`leaim.governance.access.masking`).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TYPE_CHECKING

from leaim.exceptions import NotFoundError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from leaim.governance.ports import Principal


class Permission(StrEnum):
    """Actions the API guards."""

    CREATE_DECISION = "decisions:create"
    READ_DECISION = "decisions:read"
    REPLAY_DECISIONS = "decisions:replay"
    INGEST_RECORDS = "datasets:ingest"
    READ_QUARANTINE = "datasets:quarantine:read"
    REPLAY_QUARANTINE = "datasets:quarantine:replay"
    CREATE_SNAPSHOT = "datasets:snapshots:create"
    READ_SNAPSHOTS = "datasets:snapshots:read"
    TRAIN_MODELS = "models:train"
    READ_MODELS = "models:read"
    PROMOTE_MODELS = "models:promote"
    ARCHIVE_DOCUMENTS = "models:documents:archive"
    RECORD_OUTCOME = "decisions:outcome"
    REVIEW_DECISIONS = "decisions:review"
    READ_MONITORING = "monitoring:read"
    READ_AUDIT = "audit:read"
    PROPOSE_POLICIES = "policies:propose"
    APPROVE_POLICIES = "policies:approve"
    ACTIVATE_POLICIES = "policies:activate"
    READ_POLICIES = "policies:read"
    STOP_USE_CASES = "use-cases:stop"
    HOLD_RECORDS = "records:hold"


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "decision_client": frozenset({Permission.CREATE_DECISION, Permission.READ_DECISION, Permission.RECORD_OUTCOME}),
    "reviewer": frozenset({Permission.READ_DECISION, Permission.REVIEW_DECISIONS}),
    "auditor": frozenset(
        {
            Permission.READ_DECISION,
            Permission.REPLAY_DECISIONS,
            Permission.READ_QUARANTINE,
            Permission.READ_SNAPSHOTS,
            Permission.READ_MODELS,
            Permission.READ_MONITORING,
            Permission.READ_AUDIT,
            Permission.READ_POLICIES,
            # A legal hold keeps records the purge would remove; it deletes nothing.
            Permission.HOLD_RECORDS,
        }
    ),
    "ml_engineer": frozenset(
        {
            Permission.REPLAY_DECISIONS,
            Permission.CREATE_SNAPSHOT,
            Permission.READ_SNAPSHOTS,
            Permission.TRAIN_MODELS,
            Permission.READ_MODELS,
            Permission.PROMOTE_MODELS,
            # The generated technical documentation, instructions for use and bill of materials of a version.
            Permission.ARCHIVE_DOCUMENTS,
            Permission.READ_MONITORING,
            Permission.PROPOSE_POLICIES,
            # Another engineer's proposal only: the registry refuses a proposer's own approval (four eyes).
            Permission.APPROVE_POLICIES,
            Permission.ACTIVATE_POLICIES,
            Permission.READ_POLICIES,
            Permission.STOP_USE_CASES,
        }
    ),
    # Owns the risk of the decisions: approves the policy versions an ML engineer proposes (four eyes), may
    # activate and roll them back, and may stop a use case into its safe state (human oversight, Art. 14).
    "risk_owner": frozenset(
        {
            Permission.READ_MODELS,
            Permission.READ_MONITORING,
            Permission.APPROVE_POLICIES,
            Permission.ACTIVATE_POLICIES,
            Permission.READ_POLICIES,
            Permission.STOP_USE_CASES,
            Permission.HOLD_RECORDS,
        }
    ),
    "data_producer": frozenset({Permission.INGEST_RECORDS}),
    "data_steward": frozenset(
        {
            Permission.INGEST_RECORDS,
            Permission.READ_QUARANTINE,
            Permission.REPLAY_QUARANTINE,
            Permission.CREATE_SNAPSHOT,
            Permission.READ_SNAPSHOTS,
            Permission.RECORD_OUTCOME,
        }
    ),
}


# Who reaches a decision they did not make, per permission: the roles granted that access to every decision of the
# use cases in their scope. The principal that made a decision reaches it with any permission its role holds.
OBJECT_GRANTS: dict[Permission, frozenset[str]] = {
    Permission.READ_DECISION: frozenset({"reviewer", "auditor"}),
    # A replay recomputes a decision to check it, or to see what another policy or model makes of it.
    Permission.REPLAY_DECISIONS: frozenset({"auditor", "ml_engineer"}),
    Permission.REVIEW_DECISIONS: frozenset({"reviewer"}),
    Permission.RECORD_OUTCOME: frozenset({"data_steward"}),
}


class FieldClass(StrEnum):
    """The classes of field a use case manifest or a dataset contract marks, whose values reads mask."""

    PII = "pii"
    PROTECTED = "protected"


# Which roles see the values of each class of marked field; every other read shows the mask instead.
# Protected attributes go to the auditor alone, who checks decisions for bias and must see the group each one was
# made for. A reviewer must not see them: an override is a decision too, and the attribute stays out of it as the
# manifest keeps it out of the model's features. PII goes to no role: it is stored as keyed tokens only, and even a
# token shown would let a reader link one person's decisions across use cases and time; the joins that need it
# (online features, training data) happen inside the platform, never through a read.
FIELD_GRANTS: dict[FieldClass, frozenset[str]] = {
    FieldClass.PII: frozenset(),
    FieldClass.PROTECTED: frozenset({"auditor"}),
}


def sees_field(role: str, classes: Iterable[FieldClass]) -> bool:
    """Whether `role` is granted every class in `classes` (a field may be both PII and protected)."""
    return all(role in FIELD_GRANTS.get(field_class, frozenset()) for field_class in classes)


def is_allowed(role: str, permission: Permission) -> bool:
    """Whether `role` holds `permission`; unknown roles hold nothing."""
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def key_digest(api_key: str) -> str:
    """The sha256 under which an API key is stored: keys themselves are never stored."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def may_reach(principal: Principal, permission: Permission, *, use_case: str, made_by: str | None) -> bool:
    """Whether `principal` may use `permission` on a decision of `use_case` that `made_by` made.

    Assumes the role holds `permission` (checked first, answered 403).
    """
    if not principal.may_use(use_case):
        return False
    if made_by is not None and made_by == principal.name:
        return True
    return principal.role in OBJECT_GRANTS.get(permission, frozenset())


def use_case_scope(principal: Principal, use_case: str | None) -> tuple[str, ...] | None:
    """The use cases a read of many objects may show: `use_case` alone when named, else the key's scope (None for
    every use case). A named use case out of scope is NotFoundError, the same as an unknown one."""
    if use_case is not None:
        if not principal.may_use(use_case):
            raise NotFoundError(f"unknown use case {use_case!r}")
        return (use_case,)
    return None if principal.every_use_case else tuple(sorted(principal.use_cases))


def require_use_case(principal: Principal, use_case: str) -> None:
    """NotFoundError, the same as for an unknown use case, when the key is not scoped to `use_case`."""
    if not principal.may_use(use_case):
        raise NotFoundError(f"unknown use case {use_case!r}")


def require_dataset(principal: Principal, dataset: str) -> None:
    """NotFoundError, the same as for an unknown dataset, when the key is not scoped to `dataset`."""
    if not principal.may_touch(dataset):
        raise NotFoundError(f"unknown dataset {dataset!r}")
