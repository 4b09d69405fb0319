"""The audit writer: bundles accepted into the accepted store reach the SQL hash chains, each event exactly once.

The accepted store's change stream brings a batch of records; the writer stores their bundles in one transaction
of the audit store (`AuditIntake`), which links their events into the writer's own chain and skips every event
it holds already, so a batch delivered twice is chained once. What cannot be stored is one of two things:

- a poison: a record that is no bundle, a bundle whose events or row do not validate, or one the store refuses
  as data. A refused batch is halved until the refusal is pinned on one bundle; that bundle is set aside in the
  accepted store with its reason (`AcceptedStore.set_aside`), reported, and never retried. `leaim audit verify`
  names it.
- an outage: the audit store (or the accepted store, for a set-aside) does not answer. Nothing is given up: every
  record from the first unsettled one is reported for retry, and the stream delivers them again.

Each batch's lag (acceptance to commit) is kept by the store and reported for the function's metrics. The
writer's own invocation is one audit event, chained with the batch; it never goes through the accepted store,
whose stream would bring it back to the writer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from contracts.audit.v1 import AuditEvent
from leaim.exceptions import AuditWriteError, DependencyUnavailableError
from leaim.governance.audit.exceptions import BundleRefusedError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from leaim.domain.clock import Clock
    from leaim.governance.audit.accepted import AcceptedBundle, AcceptedStore
    from leaim.governance.ports import Telemetry

INTAKE_ACTION = "audit.intake"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One change stream record: its sequence number, its item's key, and its bundle, or why it holds none."""

    sequence_number: str
    pk: str
    bundle: AcceptedBundle | None
    unreadable: str | None = None


@dataclass(frozen=True, slots=True)
class IntakeReceipt:
    """What one transaction of the audit store chained.

    `bundles` counts those with at least one event new to the chains; `lag_s` is how long the oldest of them
    waited from its acceptance to the commit (None when none was new).
    """

    bundles: int
    events: int
    duplicates: int
    lag_s: float | None


class AuditIntake(Protocol):
    """The audit store's side of the writer: bundles into one chain, exactly once by event id."""

    @property
    def chain_id(self) -> str:
        """The chain this writer links events into."""
        ...

    def store(self, bundles: Sequence[AcceptedBundle], own_event: AuditEvent | None = None) -> IntakeReceipt:
        """Store `bundles` (and the writer's `own_event`, last) in one transaction, skipping stored events.

        BundleRefusedError when the store refuses them as data (naming the bundle where it can), a
        DependencyUnavailableError when it does not answer; either way nothing is kept.
        """
        ...


@dataclass(frozen=True, slots=True)
class IntakeLag:
    """The writer's transactions over a window, and how long their oldest bundles waited to be chained."""

    batches: int
    events: int
    lag_p50_s: float | None
    lag_p99_s: float | None
    lag_max_s: float | None


class IntakeHistory(Protocol):
    """The writer's transactions, as the audit store keeps them."""

    def lag(self, since: datetime, until: datetime) -> IntakeLag:
        """The transactions committed in [since, until) and the percentiles of their lags (nearest rank)."""
        ...


@dataclass(frozen=True, slots=True)
class SetAside:
    """A record given up on: its item's key, its sequence number and why."""

    pk: str
    sequence_number: str
    reason: str


@dataclass(frozen=True)
class DrainReport:
    """What the writer did with one batch; `retry_from` are the sequence numbers the stream must deliver again."""

    records: int
    bundles: int
    events: int
    duplicates: int
    set_aside: tuple[SetAside, ...]
    retry_from: tuple[str, ...]
    error: str | None
    lag_s: float | None


@dataclass
class _Drain:
    """A batch being drained: which records are settled (stored or set aside), and what was found on the way."""

    records: Sequence[StreamRecord]
    settled: set[int] = field(default_factory=set)
    set_aside: list[SetAside] = field(default_factory=list)
    receipts: list[IntakeReceipt] = field(default_factory=list)
    error: str | None = None
    store_down: bool = False
    # Whether the invocation's own event was chained with the batch.
    own_stored: bool = False


class AuditWriter:
    """Drains batches of the accepted store's change stream into the audit store's hash chains."""

    def __init__(
        self, *, intake: AuditIntake, accepted: AcceptedStore, telemetry: Telemetry, clock: Clock, source: str
    ) -> None:
        self._intake = intake
        self._accepted = accepted
        self._telemetry = telemetry
        self._clock = clock
        self._source = source

    def drain(self, records: Sequence[StreamRecord], invocation_id: str) -> DrainReport:
        """Store what can be stored, set aside what never can, and say where the stream must resume."""
        started = self._clock.monotonic()
        with self._telemetry.span("audit.intake", {"records": len(records)}):
            drain = _Drain(records)
            trace_id = self._telemetry.trace_id()
            for position, record in enumerate(records):
                if record.bundle is None and not self._set_aside(drain, position, record.unreadable or "unreadable"):
                    break
            # Only records before the first unsettled unreadable one are stored: the stream resumes from there.
            end = next((p for p, r in enumerate(records) if r.bundle is None and p not in drain.settled), len(records))
            group = [p for p in range(end) if records[p].bundle is not None]
            if group:
                self._store(drain, group, self._own_event(drain, invocation_id, trace_id, started))
            if not drain.own_stored and not drain.store_down:
                self._store(drain, [], self._own_event(drain, invocation_id, trace_id, started))
            return self._report(drain)

    def _store(self, drain: _Drain, group: list[int], own: AuditEvent | None) -> None:
        """Store the bundles of the records at `group` in one transaction, halving it on a refusal as data."""
        while True:
            bundles = [_bundle(drain.records[p]) for p in group]
            try:
                receipt = self._intake.store(bundles, own)
            except BundleRefusedError as refused:
                pinned = [p for p in group if drain.records[p].pk == refused.pk] if refused.pk is not None else []
                if not pinned and len(group) > 1:
                    middle = len(group) // 2
                    self._store(drain, group[:middle], None)
                    if drain.error is None:
                        self._store(drain, group[middle:], None)
                    return
                if not group:
                    drain.error = f"the writer's own event was refused: {refused.reason}"
                    return
                poison = pinned[0] if pinned else group[0]
                if not self._set_aside(drain, poison, refused.reason):
                    return
                group = [p for p in group if p != poison]
                if not group:
                    return
                continue
            except DependencyUnavailableError as error:
                drain.error = str(error)
                drain.store_down = True
                return
            drain.receipts.append(receipt)
            drain.settled.update(group)
            drain.own_stored = drain.own_stored or own is not None
            return

    def _set_aside(self, drain: _Drain, position: int, reason: str) -> bool:
        """Give up on one record for good; False (and the batch fails from there) when the accepted store refuses."""
        record = drain.records[position]
        try:
            self._accepted.set_aside(record.pk, reason)
        except (AuditWriteError, DependencyUnavailableError) as error:
            drain.error = str(error)
            return False
        drain.settled.add(position)
        drain.set_aside.append(SetAside(record.pk, record.sequence_number, reason))
        return True

    def _own_event(self, drain: _Drain, invocation_id: str, trace_id: str, started: float) -> AuditEvent:
        """The invocation's audit event as the batch stands now: an error when a record could not be settled."""
        records = drain.records
        details: dict[str, Any] = {
            "records": len(records),
            "bundles": sum(record.bundle is not None for record in records),
            "set_aside": [{"pk": item.pk, "reason": item.reason} for item in drain.set_aside],
        }
        return AuditEvent(
            event_id=uuid.uuid4().hex,
            occurred_at=datetime.fromtimestamp(self._clock.now(), UTC),
            source=self._source,
            action=INTAKE_ACTION,
            invocation_id=invocation_id,
            outcome="error" if drain.error is not None else "success",
            trace_id=trace_id,
            duration_ms=round((self._clock.monotonic() - started) * 1000.0, 3),
            error=drain.error,
            details=details,
        )

    def _report(self, drain: _Drain) -> DrainReport:
        records = drain.records
        first = next((p for p in range(len(records)) if p not in drain.settled), len(records))
        lags = [receipt.lag_s for receipt in drain.receipts if receipt.lag_s is not None]
        return DrainReport(
            records=len(records),
            bundles=sum(receipt.bundles for receipt in drain.receipts),
            events=sum(receipt.events for receipt in drain.receipts),
            duplicates=sum(receipt.duplicates for receipt in drain.receipts),
            set_aside=tuple(drain.set_aside),
            retry_from=tuple(record.sequence_number for record in records[first:]),
            error=drain.error,
            lag_s=max(lags) if lags else None,
        )


def _bundle(record: StreamRecord) -> AcceptedBundle:
    if record.bundle is None:
        raise ValueError(f"record {record.sequence_number} holds no bundle")
    return record.bundle
