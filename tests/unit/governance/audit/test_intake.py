"""The audit writer's rules, with the audit store and the accepted store in memory: what is stored, what is set
aside for good, and where the stream must resume."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from leaim.exceptions import AuditWriteError, DependencyUnavailableError
from leaim.governance.audit.accepted import AcceptedBundle
from leaim.governance.audit.exceptions import BundleRefusedError
from leaim.governance.audit.intake import INTAKE_ACTION, AuditWriter, IntakeReceipt, StreamRecord
from tests.support.fakes import TRACE, ManualClock, StaticTelemetry

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from contracts.audit.v1 import AuditEvent

SOURCE = "AuditWriterFunction"


class MemoryIntake:
    """Chains bundles in memory, exactly once by event id; refuses the bundles in `poison` as a store would."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.chain: list[str] = []
        self.own: list[AuditEvent] = []
        self.calls: list[list[str]] = []
        self.poison: dict[str, bool] = {}
        self.down_after: int | None = None

    @property
    def chain_id(self) -> str:
        return "w-memory"

    def store(self, bundles: Sequence[AcceptedBundle], own_event: AuditEvent | None = None) -> IntakeReceipt:
        self.calls.append([bundle.pk for bundle in bundles])
        if self.down_after is not None and len(self.calls) > self.down_after:
            raise DependencyUnavailableError("the audit store did not answer")
        for bundle in bundles:
            if bundle.pk in self.poison:
                # Pinned: the bundle did not validate; else the store refused the whole transaction.
                pinned = self.poison[bundle.pk] or len(bundles) == 1
                raise BundleRefusedError(f"{bundle.pk} is refused", pk=bundle.pk if pinned else None)
        new = [event_id for bundle in bundles for event_id in bundle.event_ids if event_id not in self.chain]
        self.chain.extend(new)
        if own_event is not None:
            self.own.append(own_event)
        fresh = [bundle for bundle in bundles if set(bundle.event_ids) & set(new)]
        lag = self.clock.now() - min(bundle.accepted_at for bundle in fresh) if fresh else None
        duplicates = sum(len(bundle.events) for bundle in bundles) - len(new)
        return IntakeReceipt(bundles=len(fresh), events=len(new), duplicates=duplicates, lag_s=lag)


class MemoryAccepted:
    def __init__(self) -> None:
        self.set_asides: dict[str, str] = {}
        self.refuses = False

    def set_aside(self, pk: str, reason: str) -> None:
        if self.refuses:
            raise AuditWriteError(f"accepted item {pk!r} could not be set aside: EndpointConnectionError")
        self.set_asides[pk] = reason

    def bundles(self) -> Iterator[AcceptedBundle]:
        return iter(())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def intake(clock: ManualClock) -> MemoryIntake:
    return MemoryIntake(clock)


@pytest.fixture
def accepted() -> MemoryAccepted:
    return MemoryAccepted()


@pytest.fixture
def writer(intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock) -> AuditWriter:
    return AuditWriter(intake=intake, accepted=accepted, telemetry=StaticTelemetry(), clock=clock, source=SOURCE)


def record(index: int, clock: ManualClock, *, events: int = 2, waited: float = 1.5) -> StreamRecord:
    pk = f"events#e{index}-0"
    bundle = AcceptedBundle(
        pk=pk,
        kind="events",
        events=tuple({"event_id": f"e{index}-{n}"} for n in range(events)),
        row=None,
        accepted_at=clock.now() - waited,
    )
    return StreamRecord(sequence_number=f"{1000 + index}", pk=pk, bundle=bundle)


def unreadable(index: int) -> StreamRecord:
    return StreamRecord(sequence_number=f"{1000 + index}", pk=f"events#u{index}", bundle=None, unreadable="no JSON")


def test_a_batch_is_chained_in_one_transaction_with_the_writers_own_event_last(
    writer: AuditWriter, intake: MemoryIntake, clock: ManualClock
) -> None:
    records = [record(index, clock, waited=3.0 - index) for index in range(3)]
    report = writer.drain(records, "invocation-1")
    assert intake.calls == [[r.pk for r in records]]
    assert intake.chain == ["e0-0", "e0-1", "e1-0", "e1-1", "e2-0", "e2-1"]
    (own,) = intake.own
    assert (own.action, own.source, own.invocation_id, own.outcome, own.trace_id) == (
        INTAKE_ACTION,
        SOURCE,
        "invocation-1",
        "success",
        TRACE,
    )
    assert own.details == {"records": 3, "bundles": 3, "set_aside": []}
    assert (report.bundles, report.events, report.duplicates, report.retry_from, report.error) == (3, 6, 0, (), None)
    assert report.lag_s == pytest.approx(3.0)


def test_a_batch_delivered_again_is_chained_once(writer: AuditWriter, intake: MemoryIntake, clock: ManualClock) -> None:
    records = [record(index, clock) for index in range(2)]
    writer.drain(records, "invocation-1")
    again = writer.drain(records, "invocation-2")
    assert intake.chain == ["e0-0", "e0-1", "e1-0", "e1-1"]
    assert (again.events, again.duplicates, again.lag_s, again.retry_from) == (0, 4, None, ())
    assert [event.invocation_id for event in intake.own] == ["invocation-1", "invocation-2"]


def test_a_bundle_the_store_refuses_is_found_by_halving_the_batch_and_set_aside_for_good(
    writer: AuditWriter, intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock
) -> None:
    records = [record(index, clock) for index in range(8)]
    intake.poison = {records[5].pk: False}
    report = writer.drain(records, "invocation-1")
    assert accepted.set_asides == {records[5].pk: f"{records[5].pk} is refused"}
    assert [(item.pk, item.sequence_number) for item in report.set_aside] == [(records[5].pk, "1005")]
    assert sorted(intake.chain) == sorted(f"e{i}-{n}" for i in range(8) if i != 5 for n in range(2))
    assert report.retry_from == (), "a set-aside bundle is not retried"
    # The whole batch, then halves down to the one bundle: a handful of transactions, not one per record.
    assert len(intake.calls) <= 1 + 2 * 3 + 1
    (own,) = intake.own
    assert own.outcome == "success"
    assert own.details["set_aside"] == [{"pk": records[5].pk, "reason": f"{records[5].pk} is refused"}]


def test_a_bundle_named_by_the_refusal_is_set_aside_without_halving(
    writer: AuditWriter, intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock
) -> None:
    records = [record(index, clock) for index in range(4)]
    intake.poison = {records[1].pk: True}
    report = writer.drain(records, "invocation-1")
    assert list(accepted.set_asides) == [records[1].pk]
    assert intake.calls == [[r.pk for r in records], [r.pk for r in records if r is not records[1]]]
    assert report.events == 6
    assert len(intake.own) == 1


def test_an_unreadable_record_is_set_aside_and_the_rest_stored(
    writer: AuditWriter, intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock
) -> None:
    records = [record(0, clock), unreadable(1), record(2, clock)]
    report = writer.drain(records, "invocation-1")
    assert accepted.set_asides == {"events#u1": "no JSON"}
    assert intake.calls == [[records[0].pk, records[2].pk]]
    assert report.retry_from == ()


def test_a_store_that_does_not_answer_fails_the_batch_and_loses_nothing(
    writer: AuditWriter, intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock
) -> None:
    records = [record(index, clock) for index in range(3)]
    intake.down_after = 0
    report = writer.drain(records, "invocation-1")
    assert report.retry_from == ("1000", "1001", "1002")
    assert report.error == "the audit store did not answer"
    assert intake.chain == [] and accepted.set_asides == {}
    assert intake.calls == [[r.pk for r in records]], "a store that is down is not asked again for its own event"


def test_an_outage_while_halving_resumes_from_the_first_unstored_record(
    writer: AuditWriter, intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock
) -> None:
    records = [record(index, clock) for index in range(4)]
    intake.poison = {records[3].pk: False}
    intake.down_after = 2
    report = writer.drain(records, "invocation-1")
    assert intake.chain == ["e0-0", "e0-1", "e1-0", "e1-1"]
    assert report.retry_from == ("1002", "1003")
    assert accepted.set_asides == {}


def test_an_accepted_store_that_cannot_set_aside_fails_the_batch_from_that_record(
    writer: AuditWriter, intake: MemoryIntake, accepted: MemoryAccepted, clock: ManualClock
) -> None:
    records = [record(0, clock), unreadable(1), record(2, clock)]
    accepted.refuses = True
    report = writer.drain(records, "invocation-1")
    assert intake.chain == ["e0-0", "e0-1"]
    assert report.retry_from == ("1001", "1002")
    (own,) = intake.own
    assert own.outcome == "error"
    assert own.error is not None and "could not be set aside" in own.error
