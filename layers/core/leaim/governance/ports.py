"""Ports of the governance layer: where audit events go and who the callers are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractContextManager
    from datetime import datetime

    from contracts.audit.v1 import AuditEvent
    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.governance.v1 import RecordedOutcome


class AuditLog(Protocol):
    """Durable audit storage. `record_decision` stores the decision and its event atomically."""

    def append(self, event: AuditEvent) -> None:
        """Store one event durably or raise AuditWriteError."""
        ...

    def append_many(self, events: Sequence[AuditEvent]) -> None:
        """Store events durably in one transaction, all or none, or raise AuditWriteError."""
        ...

    def record_decision(
        self,
        decision: DecisionResponse,
        inputs: Mapping[str, object],
        event: AuditEvent,
        related: Sequence[AuditEvent] = (),
        *,
        features: Mapping[str, float] | None = None,
    ) -> None:
        """Store a decision with its minimized inputs, its audit event and `related` events in one transaction.

        `related` are the events of the worker calls made for the decision; `features` is the vector the model
        scored, None when no model scored.

        Raises DuplicateDecisionError when the use case already has a decision for the request id,
        and AuditWriteError when nothing could be stored.
        """
        ...

    def record_override(self, override: Override, use_case: str, event: AuditEvent) -> None:
        """Store a reviewer's override of the decision `override.review_id` and its audit event in one transaction.

        Raises RecordExistsError when the decision has an override already, and AuditWriteError when nothing
        could be stored; either way nothing is kept.
        """
        ...

    def record_outcome(self, outcome: RecordedOutcome, event: AuditEvent) -> None:
        """Store the ground truth of the decision `outcome.decision_id` and its audit event in one transaction.

        Raises RecordExistsError when the decision has an outcome already, and AuditWriteError when nothing
        could be stored; either way nothing is kept.
        """
        ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit events to read: those matching every field given; `since` inclusive, `until` exclusive."""

    decision_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    use_case: str | None = None
    model_version: str | None = None
    principal: str | None = None
    action: str | None = None
    outcome: str | None = None
    source: str | None = None
    trace_id: str | None = None
    within: tuple[str, ...] | None = None
    """The caller's scope: only events of these use cases (None: every event, those of no use case included)."""


EVERY = "*"
"""The scope entry that grants every use case (or every dataset), present and future."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its name, its role, and the use cases and datasets its key may touch.

    `key_id` names the key it authenticated with (None for the platform's own principals: schedules, queues);
    `plan` names the key's rate plan (`leaim.governance.access.plans`).
    """

    name: str
    role: str
    use_cases: frozenset[str] = frozenset({EVERY})
    datasets: frozenset[str] = frozenset({EVERY})
    key_id: str | None = None
    plan: str | None = None

    def may_use(self, use_case: str) -> bool:
        """Whether the key is scoped to `use_case`."""
        return EVERY in self.use_cases or use_case in self.use_cases

    def may_touch(self, dataset: str) -> bool:
        """Whether the key is scoped to `dataset`."""
        return EVERY in self.datasets or dataset in self.datasets

    @property
    def every_use_case(self) -> bool:
        """Whether the key is scoped to every use case, and so may read what spans them (coverage, the whole trail)."""
        return EVERY in self.use_cases


class ApiKeyStore(Protocol):
    """API keys mapped to principals; only digests of keys are stored."""

    def lookup(self, key_digest: str) -> Principal | None:
        """The principal owning the key with this sha256 digest, or None."""
        ...


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One stored key secret (by its digest), what it grants, and its state.

    A key keeps its `key_id` through rotations: each rotation stores a new secret (`generation` + 1) and gives the
    one before an `expires_at`. A revoked key has `revoked_at` and every secret of it is inactive.
    """

    key_digest: str
    key_id: str
    principal: str
    role: str
    use_cases: tuple[str, ...]
    datasets: tuple[str, ...]
    plan: str
    created_at: datetime
    created_by: str
    generation: int = 1
    active: bool = True
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def valid_at(self, moment: datetime) -> bool:
        """Whether the secret authenticates at `moment`: active, and not past its rotation grace."""
        return self.active and (self.expires_at is None or moment < self.expires_at)

    def principal_of(self) -> Principal:
        """The principal this secret authenticates as."""
        return Principal(
            name=self.principal,
            role=self.role,
            use_cases=frozenset(self.use_cases),
            datasets=frozenset(self.datasets),
            key_id=self.key_id,
            plan=self.plan,
        )


class ApiKeyRegistry(Protocol):
    """The key table as key management sees it: every secret's record, written and changed one at a time."""

    def add(self, record: ApiKeyRecord) -> None:
        """Store a new secret's record; raises RecordExistsError when its digest is stored already."""
        ...

    def replace(self, record: ApiKeyRecord) -> None:
        """Store a changed record over the one with the same digest."""
        ...

    def records(self) -> list[ApiKeyRecord]:
        """Every stored record, of every key, active or not."""
        ...


class Telemetry(Protocol):
    """Spans and trace context, so orchestration code names no telemetry library."""

    def span(
        self, name: str, attributes: Mapping[str, str | int | float | bool] | None = None
    ) -> AbstractContextManager[None]:
        """Open a child span of the current one for the duration of a `with` block."""
        ...

    def trace_id(self) -> str:
        """Hex trace id of the current span (32 characters)."""
        ...

    def carrier(self) -> dict[str, str]:
        """W3C trace context of the current span, to send inside worker requests."""
        ...

    def attach(self, carrier: Mapping[str, str]) -> AbstractContextManager[None]:
        """Continue the trace described by `carrier` for the duration of a `with` block."""
        ...


class DeadLetterSink(Protocol):
    """Where a message that can never be processed goes, kept with the reason why."""

    def send(self, body: str, attributes: Mapping[str, str], reason: str) -> None:
        """Keep the message's body and attributes and add the failure reason."""
        ...
