"""Key management: make, list, rotate and revoke API keys, each change audited.

A key is a random secret shown once, when it is made; the table keeps only its sha256 (`key_digest`), the
principal and role it authenticates as, the use cases and datasets it may touch, and its rate plan. The API
functions cache a key's answer for the key store's cache time (`LEAIM_API_KEY_CACHE_S`, 60 s by default), so a
revoked or rotated-out key is refused everywhere within that time.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from leaim.governance.access.exceptions import KeyManagementError
from leaim.governance.access.plans import PLANS
from leaim.governance.access.policy import ROLE_PERMISSIONS, key_digest
from leaim.governance.audit.events import InvocationAudit
from leaim.governance.ports import EVERY, ApiKeyRecord

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from leaim.domain.clock import Clock
    from leaim.governance.ports import ApiKeyRegistry, AuditLog

SOURCE = "KeyAdministration"
OPERATOR_ROLE = "key_admin"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made or rotated: its secret (shown once, never stored) and its record."""

    secret: str
    record: ApiKeyRecord


@dataclass(frozen=True, slots=True)
class KeySummary:
    """What `list` shows of a key: its newest secret's record, and whether any of its secrets authenticates now."""

    record: ApiKeyRecord
    status: str


class KeyAdministration:
    """Key changes on behalf of `operator`, each one stored as an audit event before it is reported done.

    `known_use_cases` and `known_datasets`, when given, are the names a key may be scoped to (besides `*`): a
    typo in a scope is refused rather than stored as a key that can touch nothing.
    """

    def __init__(
        self,
        *,
        registry: ApiKeyRegistry,
        audit_log: AuditLog,
        clock: Clock,
        operator: str,
        trace_id: str,
        known_use_cases: Collection[str] | None = None,
        known_datasets: Collection[str] | None = None,
    ) -> None:
        self._registry = registry
        self._audit_log = audit_log
        self._clock = clock
        self._operator = operator
        self._trace_id = trace_id
        self._use_cases = known_use_cases
        self._datasets = known_datasets

    def create(
        self, *, principal: str, role: str, use_cases: Sequence[str], datasets: Sequence[str] = (), plan: str
    ) -> IssuedKey:
        """Make a key for `principal` in `role`, scoped to `use_cases` and `datasets` (`*` for every one)."""
        if not principal.strip():
            raise KeyManagementError("the principal must be named")
        if role not in ROLE_PERMISSIONS:
            raise KeyManagementError(f"unknown role {role!r}: one of {', '.join(sorted(ROLE_PERMISSIONS))}")
        if plan not in PLANS:
            raise KeyManagementError(f"unknown plan {plan!r}: one of {', '.join(PLANS)}")
        if not use_cases and not datasets:
            raise KeyManagementError("a key must name the use cases or datasets it may touch (`*` for every one)")
        scoped_use_cases = _checked("use case", use_cases, self._use_cases)
        scoped_datasets = _checked("dataset", datasets, self._datasets)
        secret = _secret(role)
        record = ApiKeyRecord(
            key_digest=key_digest(secret),
            key_id=f"key_{uuid.uuid4().hex[:16]}",
            principal=principal.strip(),
            role=role,
            use_cases=scoped_use_cases,
            datasets=scoped_datasets,
            plan=plan,
            created_at=self._now(),
            created_by=self._operator,
        )

        def change() -> None:
            self._registry.add(record)

        self._audited("key.create", record, change)
        return IssuedKey(secret, record)

    def list(self) -> list[KeySummary]:
        """Every key, newest secret first per key, keys in the order they were made."""
        now = self._now()
        by_key: dict[str, list[ApiKeyRecord]] = {}
        for record in self._registry.records():
            by_key.setdefault(record.key_id, []).append(record)
        summaries = []
        for records in by_key.values():
            records.sort(key=lambda record: record.generation, reverse=True)
            newest = records[0]
            if newest.revoked_at is not None:
                status = "revoked"
            elif not newest.valid_at(now):
                status = "expired"
            elif any(record.valid_at(now) for record in records[1:]):
                # A rotation's grace: the secret before the newest still authenticates.
                status = "rotating"
            else:
                status = "active"
            summaries.append(KeySummary(newest, status))
        summaries.sort(key=lambda summary: (summary.record.created_at, summary.record.key_id))
        return summaries

    def rotate(self, key_id: str, *, grace: timedelta = timedelta(0)) -> IssuedKey:
        """A new secret for `key_id`, with the same grants; the secret before stays valid for `grace`."""
        if grace < timedelta(0):
            raise KeyManagementError("the grace period cannot be negative")
        current = self._current(key_id)
        now = self._now()
        secret = _secret(current.role)
        record = replace(
            current,
            key_digest=key_digest(secret),
            generation=current.generation + 1,
            created_at=now,
            created_by=self._operator,
            expires_at=None,
        )
        outgoing = replace(current, expires_at=now + grace) if grace else replace(current, active=False, expires_at=now)

        def change() -> None:
            self._registry.add(record)
            self._registry.replace(outgoing)

        self._audited("key.rotate", record, change, {"grace_s": grace.total_seconds()})
        return IssuedKey(secret, record)

    def revoke(self, key_id: str) -> ApiKeyRecord:
        """Refuse every secret of `key_id` from now on (within the key store's cache time)."""
        records = [record for record in self._registry.records() if record.key_id == key_id]
        if not records:
            raise KeyManagementError(f"no key {key_id!r}")
        newest = max(records, key=lambda record: record.generation)
        if newest.revoked_at is not None:
            raise KeyManagementError(f"key {key_id!r} is revoked already")
        now = self._now()

        def change() -> None:
            for record in records:
                self._registry.replace(replace(record, active=False, revoked_at=now))

        self._audited("key.revoke", newest, change)
        return replace(newest, active=False, revoked_at=now)

    def _current(self, key_id: str) -> ApiKeyRecord:
        now = self._now()
        records = [record for record in self._registry.records() if record.key_id == key_id]
        if not records:
            raise KeyManagementError(f"no key {key_id!r}")
        newest = max(records, key=lambda record: record.generation)
        if newest.revoked_at is not None or not newest.valid_at(now):
            raise KeyManagementError(f"key {key_id!r} is revoked: make a new one")
        return newest

    def _audited(self, action: str, record: ApiKeyRecord, change: Any, extra: dict[str, Any] | None = None) -> None:
        """Make the change, then store its event; a change that fails is stored as a failed event and re-raised."""
        audit = InvocationAudit(
            self._audit_log,
            self._clock,
            source=SOURCE,
            action=action,
            invocation_id=uuid.uuid4().hex,
            trace_id=self._trace_id,
        )
        audit.note(principal=self._operator, role=OPERATOR_ROLE)
        details = {
            "key_id": record.key_id,
            "key_principal": record.principal,
            "key_role": record.role,
            "use_cases": list(record.use_cases),
            "datasets": list(record.datasets),
            "plan": record.plan,
            "generation": record.generation,
            **(extra or {}),
        }
        with audit.failures_audited(details):
            change()
        audit.store("success", details=details)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)


def _secret(role: str) -> str:
    """A new key: the role's name for the reader, then 144 random bits."""
    return f"leaim_{role}_{secrets.token_urlsafe(18)}"


def _checked(kind: str, names: Sequence[str], known: Collection[str] | None) -> tuple[str, ...]:
    cleaned = sorted({name.strip() for name in names if name.strip()})
    if EVERY in cleaned and len(cleaned) > 1:
        raise KeyManagementError(f"`*` already grants every {kind}: name no other")
    if known is not None:
        unknown = [name for name in cleaned if name != EVERY and name not in known]
        if unknown:
            raise KeyManagementError(
                f"unknown {kind} {', '.join(map(repr, unknown))}: known are {', '.join(sorted(known))}"
            )
    return tuple(cleaned)
