"""Ports of oversight: the stored decisions with their outcomes and overrides, reports, alerts and invocations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Mapping, Sequence
    from datetime import datetime

    from contracts.decision.v1 import DecisionResponse, Override
    from contracts.governance.v1 import Alert, RecordedOutcome
    from contracts.model.v1 import TrainingJob
    from contracts.trail.v1 import AuditPage, AuditRecord
    from leaim.governance.ports import AuditQuery

TrafficChangeKind = Literal["promote", "challenge", "clear", "restore"]
"""What a traffic change did: a new champion, a new challenger, a challenger taken out, the previous champion back."""
ROLLBACKS: tuple[TrafficChangeKind, ...] = ("clear", "restore")


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as stored, with what was learnt about it since: its override and its ground truth.

    `made_by` is the principal its audit event names; it is read where one decision is read (for object-level
    access), and left None by the reads of many decisions, which are filtered by use case instead.
    """

    response: DecisionResponse
    inputs: Mapping[str, Any]
    features: Mapping[str, float] | None
    override: Override | None
    label: bool | None
    made_by: str | None = None

    @property
    def final_outcome(self) -> str:
        """The reviewer's outcome where there is one, else the platform's."""
        return self.override.outcome if self.override is not None else self.response.outcome


@dataclass(frozen=True, slots=True)
class UsageFact:
    """One decision invocation, as usage analytics count it."""

    use_case: str
    model_version: str | None
    principal: str | None
    duration_ms: float
    fallback: bool
    review_required: bool
    overridden: bool


@dataclass(frozen=True, slots=True)
class CountedInvocation:
    """One invocation of one function, as the platform running the functions counted it."""

    function: str
    request_id: str


@dataclass(frozen=True, slots=True)
class PrincipalRequest:
    """One decision as the abuse monitor reads it: who asked for it and when, with its stored inputs and features."""

    decision_id: str
    principal: str
    occurred_at: datetime
    inputs: Mapping[str, Any]
    features: Mapping[str, float] | None


class RequestHistory(Protocol):
    """Every principal's decision requests, read by the principal their audit events name."""

    def requests(self, use_case: str, since: datetime, until: datetime, *, limit: int) -> list[PrincipalRequest]:
        """The use case's decisions made in [since, until) for a named principal, oldest first (the latest `limit`)."""
        ...

    def request_counts(self, use_case: str, edges: Sequence[datetime]) -> dict[str, list[int]]:
        """Per principal, its decision requests (whatever their answer) in each [edges[i], edges[i + 1])."""
        ...


class OversightStore(Protocol):
    """Decisions, outcomes, overrides, monitor reports and alerts, kept with the audit store."""

    def decision(self, decision_id: str) -> StoredDecision | None:
        """A stored decision with its override and ground truth, or None."""
        ...

    def outcome_of(self, decision_id: str) -> RecordedOutcome | None:
        """The ground truth recorded for a decision, joined to it, or None."""
        ...

    def override_of(self, decision_id: str) -> Override | None:
        """The reviewer's override of a decision, or None."""
        ...

    def pending_reviews(
        self, use_cases: Collection[str] | None, *, after: str | None, limit: int
    ) -> list[StoredDecision]:
        """Decisions in the review band with no override yet (of `use_cases`, or of all when None), oldest first,
        after the decision id `after`."""
        ...

    def window(
        self, use_case: str, since: datetime, until: datetime, *, limit: int | None = None
    ) -> list[StoredDecision]:
        """The use case's decisions made in [since, until), oldest first; the latest `limit` of them if given."""
        ...

    def save_report(self, kind: str, report: Any) -> None:
        """Keep a drift, bias or abuse report (a governance.v1 contract with report_id, use_case and computed_at)."""
        ...

    def reports(self, use_case: str, kind: str, *, limit: int) -> list[dict[str, Any]]:
        """The use case's latest reports of `kind`, newest first, as stored documents."""
        ...

    def open_alert(self, alert: Alert) -> bool:
        """Open `alert` unless the same one (use case, kind, version, subject) is open; True when it was opened."""
        ...

    def close_alerts(self, use_case: str, kind: str, *, still_open: Sequence[tuple[str, str]], at: datetime) -> int:
        """Close the use case's open alerts of `kind` not in `still_open` (version, subject); returns how many."""
        ...

    def alerts(self, *, use_case: str | None = None, open_only: bool = True) -> list[Alert]:
        """Alerts, newest first."""
        ...

    def usage(self, since: datetime, until: datetime, use_case: str | None) -> list[UsageFact]:
        """Every stored decision invocation in [since, until)."""
        ...

    def throttled(
        self, since: datetime, until: datetime, use_case: str | None
    ) -> list[tuple[str | None, str | None, int]]:
        """(use case, principal, requests) refused over a rate plan (429) in [since, until)."""
        ...

    def audited_invocations(self, since: datetime, until: datetime) -> set[str]:
        """Lambda request ids of every function invocation with an audit event in [since, until)."""
        ...

    def explanation_counts(self, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
        """Per use case, the decisions made in [since, until) and how many of them can be explained: stored with
        reasons, and with the feature values when a model scored them."""
        ...


class AuditTrail(Protocol):
    """The audit trail as auditors read it: searched page by page, or exported whole."""

    def search(self, query: AuditQuery, *, cursor: str | None, limit: int) -> AuditPage:
        """Up to `limit` matching records in trail order, after the opaque `cursor`."""
        ...

    def iter_records(self, query: AuditQuery) -> Iterator[AuditRecord]:
        """Every matching record, in trail order, streamed."""
        ...


class InvocationLedger(Protocol):
    """What the platform running the functions counted: Lambda's own record of invocations."""

    def invocations(self, since: datetime, until: datetime) -> list[CountedInvocation] | int:
        """The invocations in [since, until): each one where the platform lists them, else only their number."""
        ...


@dataclass(frozen=True, slots=True)
class TrafficChangeRecord:
    """One change of a use case's traffic policy, from its history; `version` is the one it put in traffic."""

    use_case: str
    revision: int
    change: TrafficChangeKind
    model_name: str
    version: str | None
    champion: str
    challenger: str | None
    at: datetime
    by: str


class ProcessHistory(Protocol):
    """How a use case's models changed: its traffic changes and its training jobs, for the process KPIs."""

    def traffic_changes(self, use_case: str, since: datetime, until: datetime) -> list[TrafficChangeRecord]:
        """The changes of the use case's traffic policy in [since, until), oldest first."""
        ...

    def training_jobs(self, use_case: str, since: datetime, until: datetime) -> list[TrainingJob]:
        """The use case's training jobs created in [since, until), oldest first."""
        ...

    def jobs_of(self, model_name: str, versions: Collection[str]) -> dict[str, TrainingJob]:
        """The training job that produced each of `versions` of a model, where one did (imported ones have none)."""
        ...
