"""Retention on SQLite and PostgreSQL: the purge removes what a use case keeps no longer, only once a digest sealed
it, never under a legal hold, and leaves `audit verify` green; tampering with what it left is still named.

Digests are archived in a bucket made from `template.yaml` on moto's server, with real boto3 clients.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from contracts.manifest.v1 import Retention, UseCaseManifest
from leaim.adapters.sql import SqlAuditLog, SqlAuditTrail
from leaim.adapters.sql.retention import PURGED_EVENTS, PURGES, SqlRetention
from leaim.adapters.sql.rows import DECISIONS, EVENTS
from leaim.domain.clock import SystemClock
from leaim.domain.manifests import load_manifest
from leaim.governance.audit.chain import link_hash
from leaim.governance.audit.retention import Purger, PurgeSigner
from leaim.governance.audit.sealing import DigestSealer
from leaim.governance.audit.verification import TrailVerifier, summary
from tests.integration.governance.audit.test_trail import archive, endpoint
from tests.support.audit import decision_event, make_decision, make_event
from tests.support.fakes import ManualClock
from tests.support.paths import REPOSITORY

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from contracts.trail.v1 import VerifyReport
    from leaim.adapters.audit_archive import S3DigestArchive

USE_CASE = "card_fraud"
CARD_FRAUD = load_manifest(REPOSITORY / "contracts" / "use_cases" / "card_fraud.yaml")
RETENTION = Retention(audit_events_days=400, decisions_days=300, inputs_days=200)


__all__ = ["archive", "endpoint"]


@pytest.fixture
def signer() -> PurgeSigner:
    return PurgeSigner.generate()


def manifests(retention: Retention | None = RETENTION) -> list[UseCaseManifest]:
    return [CARD_FRAUD.model_copy(update={"retention": retention})]


def purger(engine: Engine, signer: PurgeSigner, days_later: float, retention: Retention | None = RETENTION) -> Purger:
    """A purger whose clock is `days_later` days from now."""
    clock = ManualClock()
    clock.wall = SystemClock().now() + days_later * 86_400
    return Purger(
        manifests=lambda: manifests(retention),
        store=SqlRetention(engine),
        trail=SqlAuditTrail(engine),
        accepted=None,
        signer=lambda: signer,
        clock=clock,
    )


def seal(engine: Engine, archive: S3DigestArchive, signer: PurgeSigner) -> None:
    DigestSealer(store=SqlAuditTrail(engine), archive=archive, signer=lambda: signer, clock=SystemClock()).seal()


def verify(engine: Engine, signer: PurgeSigner, archive: S3DigestArchive) -> VerifyReport:
    return TrailVerifier({signer.key_id: signer.public_key}).verify(SqlAuditTrail(engine), archive)


def decide(log: SqlAuditLog, count: int, *, use_case: str = USE_CASE) -> list[str]:
    """`count` decisions of the use case, each with its event and a worker call; their ids."""
    ids = []
    for index in range(count):
        decision = make_decision(use_case=use_case, request_id=f"req-{use_case}-{index}-{log.chain_id}")
        worker = make_event(use_case=use_case, action="worker.inference", occurred_at=datetime.now(UTC))
        event = decision_event(decision, occurred_at=datetime.now(UTC))
        log.record_decision(decision, {"amount": 12.5 + index}, event, [worker], features={"amount_log": 2.5})
        ids.append(decision.decision_id)
    return ids


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_the_purge_removes_only_what_is_past_retention_and_sealed_and_verify_stays_green(
    engine: Engine, archive: S3DigestArchive, signer: PurgeSigner
) -> None:
    log, other = SqlAuditLog(engine), SqlAuditLog(engine)
    decided = decide(log, 3)
    kept = decide(other, 2, use_case="loan_approval")
    log.append(make_event(action="ingest.records", occurred_at=datetime.now(UTC)))
    seal(engine, archive, signer)
    # Two events after the digest: the first is no chain's head, so only the seal keeps it.
    unsealed = [make_event(use_case=USE_CASE, occurred_at=datetime.now(UTC)) for _ in range(2)]
    log.append_many(unsealed)

    result = purger(engine, signer, days_later=500).purge()

    assert result.signed is not None
    purge = result.signed.purge
    assert purge.decisions.count == 3
    # Six events of the use case were sealed: two per decision; the unsealed ones stay.
    assert purge.events.count == 6
    assert count(engine, DECISIONS, DECISIONS.c.decision_id.in_(decided)) == 0
    assert count(engine, DECISIONS, DECISIONS.c.decision_id.in_(kept)) == 2
    assert count(engine, EVENTS, EVENTS.c.use_case == USE_CASE) == 2
    assert count(engine, EVENTS, EVENTS.c.event_id.in_([event.event_id for event in unsealed])) == 2
    assert count(engine, EVENTS, EVENTS.c.use_case.is_(None)) == 1
    report = verify(engine, signer, archive)
    assert report.intact, summary(report)
    assert (report.purges, report.purged_events) == (1, 6)

    # Once sealed, the first of them goes too; the chain's head stays, and nothing is removed twice.
    seal(engine, archive, signer)
    second = purger(engine, signer, days_later=500).purge().signed
    assert second is not None
    assert (second.purge.events.count, second.purge.decisions.count) == (1, 0)
    assert count(engine, EVENTS, EVENTS.c.event_id == unsealed[1].event_id) == 1
    assert purger(engine, signer, days_later=500).purge().signed is None
    report = verify(engine, signer, archive)
    assert report.intact, summary(report)
    assert (report.purges, report.purged_events) == (2, 7)


def test_nothing_is_purged_before_a_digest_seals_it_nor_a_chains_last_link(
    engine: Engine, archive: S3DigestArchive, signer: PurgeSigner
) -> None:
    log = SqlAuditLog(engine)
    decide(log, 2)

    assert purger(engine, signer, days_later=500).purge().signed is None
    assert (count(engine, EVENTS), count(engine, DECISIONS)) == (4, 2)

    seal(engine, archive, signer)
    sealed_run = purger(engine, signer, days_later=500).purge()
    assert sealed_run.signed is not None
    # The chain's head stays, so that every digest's head of it is still there to compare.
    assert sealed_run.signed.purge.events.count == 3
    assert count(engine, EVENTS) == 1
    assert verify(engine, signer, archive).intact


def test_a_legal_hold_stops_the_purge_of_its_use_case_until_released(
    engine: Engine, archive: S3DigestArchive, signer: PurgeSigner
) -> None:
    log = SqlAuditLog(engine)
    decided = decide(log, 2)
    log.append(make_event())
    seal(engine, archive, signer)
    holds = SqlRetention(engine)
    hold = holds.place_hold(USE_CASE, "matter 2026-114", by="counsel", at=datetime.now(UTC))

    held = purger(engine, signer, days_later=500).purge()

    assert held.signed is None
    assert held.held == (USE_CASE,)
    assert count(engine, DECISIONS, DECISIONS.c.decision_id.in_(decided)) == 2
    released = holds.release_hold(USE_CASE, hold.hold_id, "matter closed", by="counsel", at=datetime.now(UTC))
    assert not released.active
    assert [item.hold_id for item in holds.holds(USE_CASE)] == [hold.hold_id]
    assert purger(engine, signer, days_later=500).purge().signed is not None
    assert count(engine, DECISIONS, DECISIONS.c.decision_id.in_(decided)) == 0


def test_inputs_go_before_the_decision_and_what_remains_is_still_bound(
    engine: Engine, archive: S3DigestArchive, signer: PurgeSigner
) -> None:
    log = SqlAuditLog(engine)
    decided = decide(log, 2)
    seal(engine, archive, signer)

    result = purger(engine, signer, days_later=250).purge()

    assert result.signed is not None
    assert (result.signed.purge.redactions.count, result.signed.purge.decisions.count) == (2, 0)
    with engine.connect() as connection:
        rows = connection.execute(select(DECISIONS).where(DECISIONS.c.decision_id.in_(decided))).all()
    assert [(row.inputs, row.features) for row in rows] == [({}, None), ({}, None)]
    assert all(row.response["reasons"] for row in rows)
    assert verify(engine, signer, archive).intact
    with engine.begin() as connection:
        connection.execute(update(DECISIONS).where(DECISIONS.c.decision_id == decided[0]).values(outcome="declined"))
    report = verify(engine, signer, archive)
    assert [problem.kind for problem in report.problems] == ["decision_modified"]
    assert report.problems[0].decision_id == decided[0]


def test_tampering_after_a_purge_is_still_named(engine: Engine, archive: S3DigestArchive, signer: PurgeSigner) -> None:
    log = SqlAuditLog(engine)
    decide(log, 2)
    log.append(make_event())
    log.append(make_event())
    seal(engine, archive, signer)
    result = purger(engine, signer, days_later=500).purge()
    assert result.signed is not None
    assert verify(engine, signer, archive).intact

    # An event kept beside the purged range, deleted: its gap is no purge's.
    with engine.begin() as connection:
        connection.execute(delete(EVENTS).where(EVENTS.c.chain_id == log.chain_id, EVENTS.c.chain_seq == 5))
    missing = verify(engine, signer, archive)
    assert [problem.kind for problem in missing.problems] == ["missing"]
    assert missing.problems[0].seq == 5

    # A removed event's id claimed for an event deleted without a receipt: the receipt's tally no longer matches.
    with engine.begin() as connection:
        connection.execute(insert(PURGED_EVENTS), {"event_id": "forged", "purge_sequence": 1})
    assert "purge" in {problem.kind for problem in verify(engine, signer, archive).problems}

    # The receipt edited, then deleted: its range is a gap again.
    with engine.begin() as connection:
        signed = connection.execute(select(PURGES.c.signed)).scalar_one()
        signed["purge"]["events"]["count"] = 5
        connection.execute(update(PURGES).values(signed=signed))
    edited = verify(engine, signer, archive)
    assert any("was edited" in problem.message for problem in edited.problems)
    with engine.begin() as connection:
        connection.execute(delete(PURGES))
    deleted = verify(engine, signer, archive)
    assert any(problem.kind == "missing" and problem.seq == 1 for problem in deleted.problems)


def test_an_event_kept_before_a_purged_range_rewritten_with_its_hash_recomputed_is_named(
    engine: Engine, archive: S3DigestArchive, signer: PurgeSigner
) -> None:
    log = SqlAuditLog(engine)
    first = make_event()
    log.append(first)
    decide(log, 2)
    log.append_many([make_event(), make_event()])
    seal(engine, archive, signer)
    assert purger(engine, signer, days_later=500).purge().signed is not None
    assert verify(engine, signer, archive).intact

    # Its hash recomputes, and no kept link points to it: only the purged range's first prev_hash does.
    with engine.connect() as connection:
        row = dict(connection.execute(select(EVENTS).where(EVENTS.c.event_id == first.event_id)).one()._mapping)
    row["principal"] = "someone-else"
    with engine.begin() as connection:
        connection.execute(
            update(EVENTS)
            .where(EVENTS.c.event_id == first.event_id)
            .values(principal="someone-else", event_hash=link_hash(row))
        )

    report = verify(engine, signer, archive)
    assert not report.intact
    assert [(problem.kind, problem.seq) for problem in report.problems] == [("missing", 2)]
