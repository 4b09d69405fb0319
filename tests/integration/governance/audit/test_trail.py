"""The tamper-evident audit trail on SQLite and PostgreSQL: hash chains, signed digests, verification, search.

Each kind of tampering is done to the store with plain SQL, as someone with write access to the database would,
and verification must name what was broken. Digests are archived in a bucket made from `template.yaml` on moto's
server, with real boto3 clients.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import and_, select, text, update

from contracts.trail.v1 import AuditDigest, AuditRecord, ChainHead
from embedded.emulation.aws import LocalEndpoint, Provisioner, Resolver, local_session
from embedded.emulation.template import load_template
from leaim.adapters.audit_archive import S3DigestArchive, digest_key
from leaim.adapters.sql import (
    DuplicateDecisionError,
    SqlAuditLog,
    SqlAuditTrail,
    SqlDecisionStore,
    create_engine_for,
    create_schema,
)
from leaim.adapters.sql.rows import DIGESTS, EVENTS
from leaim.domain.clock import SystemClock
from leaim.exceptions import AuditWriteError
from leaim.governance.audit import verification
from leaim.governance.audit.chain import EVENT_FIELDS, GENESIS, link_hash
from leaim.governance.audit.exceptions import InvalidCursorError, UnreadableDigestError
from leaim.governance.audit.sealing import DigestSealer, DigestSigner
from leaim.governance.audit.verification import TrailVerifier, summary
from leaim.governance.ports import AuditQuery
from leaim.orchestration.ports import MadeDecision
from tests.support.audit import BASE_TIME, MAKER, decision_event, make_decision, make_event
from tests.support.paths import TEMPLATE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy import ColumnElement, Engine, Table

    from contracts.trail.v1 import VerifyReport

REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    server = LocalEndpoint()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def template_bucket(endpoint: LocalEndpoint) -> tuple[str, Any]:
    """A fresh bucket made as the local stack makes `AuditArchiveBucket` from the template, and a client of it."""
    template = load_template(TEMPLATE)
    # The bucket and the key that encrypts it, which its properties name.
    only_the_bucket = replace(
        template, resources={name: template.resources[name] for name in ("DataKey", "AuditArchiveBucket")}, functions={}
    )
    parameters = {name: parameter.default or "unused" for name, parameter in template.parameters.items()}
    resolver = Resolver(only_the_bucket, parameters, stack_name=f"trail-{uuid.uuid4().hex[:8]}", region=REGION)
    created = Provisioner(resolver, endpoint_url=endpoint.url).provision()["AuditArchiveBucket"]
    return created.ref, local_session(REGION).client("s3", endpoint_url=endpoint.url)


@pytest.fixture
def archive(endpoint: LocalEndpoint) -> S3DigestArchive:
    bucket, s3 = template_bucket(endpoint)
    return S3DigestArchive(bucket, s3, retention_days=1)


@pytest.fixture
def signer() -> DigestSigner:
    return DigestSigner.generate()


def sealer(engine: Engine, archive: S3DigestArchive, signer: DigestSigner) -> DigestSealer:
    return DigestSealer(store=SqlAuditTrail(engine), archive=archive, signer=lambda: signer, clock=SystemClock())


def verify(engine: Engine, signer: DigestSigner, archive: S3DigestArchive | None = None) -> VerifyReport:
    return TrailVerifier({signer.key_id: signer.public_key}).verify(SqlAuditTrail(engine), archive)


def links(engine: Engine, chain_id: str) -> list[dict[str, Any]]:
    """The chain's rows as the store gives them back, in seq order."""
    statement = select(EVENTS).where(EVENTS.c.chain_id == chain_id).order_by(EVENTS.c.chain_seq)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement)]


def execute(engine: Engine, statement: str, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), values)


def change(engine: Engine, table: Table, where: ColumnElement[bool], **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(table).where(where).values(**values))


def written(log: SqlAuditLog, count: int, **fields: Any) -> list[str]:
    """Append `count` events one by one through `log`; their ids in chain order."""
    events = [make_event(occurred_at=BASE_TIME + timedelta(seconds=index), **fields) for index in range(count)]
    for event in events:
        log.append(event)
    return [event.event_id for event in events]


def test_each_writer_links_its_own_chain_from_genesis(engine: Engine) -> None:
    first, second = SqlAuditLog(engine), SqlAuditLog(engine)
    first.append_many([make_event(), make_event()])
    second.append(make_event())
    first.append(make_event())

    assert first.chain_id != second.chain_id
    assert first.chain_id.startswith("w-")
    chain = links(engine, first.chain_id)
    assert [row["chain_seq"] for row in chain] == [1, 2, 3]
    assert chain[0]["prev_hash"] == GENESIS
    assert [row["prev_hash"] for row in chain[1:]] == [row["event_hash"] for row in chain[:-1]]
    assert [row["chain_seq"] for row in links(engine, second.chain_id)] == [1]


def test_hashes_recomputed_from_stored_rows_match_the_ones_written(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    awkward = [
        make_event(
            occurred_at=datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5))),
            duration_ms=0.1 + 0.2,
            status_code=503,
            batch_size=4,
            error='naïve ☃ \u2028 quotes " and \\ backslashes',
            details={
                "z": 1e20,
                "a": {"y": 1e-7, "b": [2**60, 3.0, -0.0, None, True, "ünïcode"]},
                "float_whole": 12.0,
                "big": 1.5e300,
                "m": {"c": {"b": {"a": 0.30000000000000004}}},
            },
        ),
        make_event(occurred_at=datetime(2025, 6, 1, 12, 0)),
        make_event(occurred_at=datetime(2025, 6, 1, 12, 0, tzinfo=UTC), duration_ms=7.0),
    ]
    log.append_many(awkward)

    for row in links(engine, log.chain_id):
        assert link_hash(row) == row["event_hash"]
    report = TrailVerifier({}).verify(SqlAuditTrail(engine), None)
    assert report.intact, report.problems


def test_an_intact_trail_verifies_and_counts_what_is_sealed(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner
) -> None:
    logs = [SqlAuditLog(engine) for _ in range(3)]
    for log in logs:
        written(log, 4)
    decision = make_decision()
    logs[0].record_decision(decision, {"income": 1}, decision_event(decision), [make_event()], features={"x": 0.5})
    sealer(engine, archive, signer).seal()
    written(logs[1], 2)

    report = verify(engine, signer, archive)

    assert report.intact, report.problems
    assert (report.chains, report.events, report.sealed_events, report.unsealed_events) == (3, 16, 14, 2)
    assert (report.digests, report.decisions, report.archive_checked) == (1, 1, True)
    assert summary(report).startswith("audit trail intact: 3 chains, 16 events, 1 digest, 1 decision")
    assert "a deleted unsealed tail cannot be detected" in summary(report)


def test_an_edited_field_names_its_row(engine: Engine, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    ids = written(log, 5)
    execute(engine, "UPDATE audit_events SET outcome = 'error' WHERE event_id = :id", id=ids[2])

    report = verify(engine, signer)

    assert not report.intact
    (problem,) = report.problems
    assert (problem.kind, problem.chain_id, problem.seq, problem.event_id) == ("modified", log.chain_id, 3, ids[2])
    assert ids[2] in summary(report)


def test_an_edited_row_with_a_recomputed_hash_is_named_by_the_link_after_it(
    engine: Engine, signer: DigestSigner
) -> None:
    log = SqlAuditLog(engine)
    ids = written(log, 5)
    row = links(engine, log.chain_id)[1]
    row["principal"] = "someone-else"
    forged = link_hash(row)
    execute(
        engine,
        "UPDATE audit_events SET principal = 'someone-else', event_hash = :hash WHERE event_id = :id",
        hash=forged,
        id=ids[1],
    )

    (problem,) = verify(engine, signer).problems

    assert (problem.kind, problem.seq, problem.event_id) == ("modified", 2, ids[1])


def test_a_row_deleted_in_the_middle_is_missing(engine: Engine, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    ids = written(log, 6)
    execute(engine, "DELETE FROM audit_events WHERE event_id = :id", id=ids[3])

    (problem,) = verify(engine, signer).problems

    assert (problem.kind, problem.chain_id, problem.seq, problem.event_id) == ("missing", log.chain_id, 4, ids[4])


def test_a_deleted_tail_that_a_digest_sealed_is_truncation(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner
) -> None:
    log = SqlAuditLog(engine)
    ids = written(log, 6)
    sealer(engine, archive, signer).seal()
    execute(engine, "DELETE FROM audit_events WHERE chain_id = :chain AND chain_seq > 4", chain=log.chain_id)

    (problem,) = verify(engine, signer, archive).problems

    assert (problem.kind, problem.chain_id, problem.seq, problem.digest_sequence) == ("truncated", log.chain_id, 5, 1)
    assert ids[3] in problem.message


def test_a_deleted_unsealed_tail_goes_unseen(engine: Engine, archive: S3DigestArchive, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    written(log, 3)
    sealer(engine, archive, signer).seal()
    written(log, 3)
    execute(engine, "DELETE FROM audit_events WHERE chain_id = :chain AND chain_seq > 4", chain=log.chain_id)

    report = verify(engine, signer, archive)

    assert report.intact
    assert (report.sealed_events, report.unsealed_events) == (3, 1)


def test_a_whole_chain_deleted_is_named(engine: Engine, archive: S3DigestArchive, signer: DigestSigner) -> None:
    kept, gone = SqlAuditLog(engine), SqlAuditLog(engine)
    written(kept, 2)
    written(gone, 3)
    sealer(engine, archive, signer).seal()
    execute(engine, "DELETE FROM audit_events WHERE chain_id = :chain", chain=gone.chain_id)

    (problem,) = verify(engine, signer, archive).problems

    assert (problem.kind, problem.chain_id, problem.seq, problem.digest_sequence) == ("deleted", gone.chain_id, 3, 1)


def test_two_rows_with_their_contents_swapped_are_reordered(engine: Engine, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    ids = written(log, 6)
    rows = links(engine, log.chain_id)
    at = {seq: and_(EVENTS.c.chain_id == log.chain_id, EVENTS.c.chain_seq == seq) for seq in (2, 5)}
    # Every event field moves, the chain columns stay: seq 2 holds the fifth event and seq 5 the second.
    change(engine, EVENTS, at[5], event_id="moving")
    change(engine, EVENTS, at[2], **{name: rows[4][name] for name in EVENT_FIELDS})
    change(engine, EVENTS, at[5], **{name: rows[1][name] for name in EVENT_FIELDS})

    (problem,) = verify(engine, signer).problems

    assert (problem.kind, problem.chain_id, problem.seq, problem.event_id) == ("reordered", log.chain_id, 2, ids[4])
    assert f"seq 5 (event {ids[1]})" in problem.message


def test_an_edited_decision_row_is_named(engine: Engine, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    decision = make_decision()
    event = decision_event(decision)
    log.record_decision(decision, {"income": 52000}, event, features={"income_log": 10.86})
    other = make_decision(request_id="req-2")
    log.record_decision(other, {"income": 1}, decision_event(other))
    execute(engine, "UPDATE decisions SET outcome = 'declined' WHERE decision_id = :id", id=decision.decision_id)

    report = verify(engine, signer)

    (problem,) = report.problems
    assert (problem.kind, problem.decision_id, problem.event_id) == (
        "decision_modified",
        decision.decision_id,
        event.event_id,
    )
    assert decision.decision_id in summary(report)


def test_edited_decision_documents_and_deleted_decisions_are_named(engine: Engine, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    edited, deleted = make_decision(request_id="req-1"), make_decision(request_id="req-2")
    log.record_decision(edited, {"income": 52000}, decision_event(edited), features={"income_log": 10.86})
    log.record_decision(deleted, {"income": 1}, decision_event(deleted))
    with engine.begin() as connection:
        (features,) = connection.execute(
            text("SELECT features FROM decisions WHERE decision_id = :id"), {"id": edited.decision_id}
        ).one()
    assert features is not None
    execute(
        engine, "UPDATE decisions SET review_required = :flag WHERE decision_id = :id", flag=True, id=edited.decision_id
    )
    execute(engine, "DELETE FROM decisions WHERE decision_id = :id", id=deleted.decision_id)

    problems = {problem.decision_id: problem for problem in verify(engine, signer).problems}

    assert set(problems) == {edited.decision_id, deleted.decision_id}
    assert all(problem.kind == "decision_modified" for problem in problems.values())
    assert "was deleted" in problems[deleted.decision_id].message


def test_a_forged_digest_is_named(engine: Engine, archive: S3DigestArchive, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    written(log, 3)
    seal = sealer(engine, archive, signer)
    seal.seal()
    written(log, 2)
    seal.seal()
    execute(engine, "UPDATE audit_digests SET events = 4 WHERE sequence = 1")

    (problem,) = verify(engine, signer).problems

    assert (problem.kind, problem.digest_sequence) == ("digest", 1)
    assert "digest 1 was edited" in problem.message


def test_a_digest_signed_by_another_key_is_forged(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner
) -> None:
    log = SqlAuditLog(engine)
    written(log, 3)
    sealer(engine, archive, DigestSigner.generate()).seal()

    (problem,) = verify(engine, signer).problems

    assert (problem.kind, problem.digest_sequence) == ("digest", 1)
    assert "not a trusted audit signing key" in problem.message


def test_a_digest_resigned_with_the_key_differs_from_its_archived_copy(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner
) -> None:
    log = SqlAuditLog(engine)
    written(log, 4)
    sealer(engine, archive, signer).seal()
    # With the signing key in hand, the chain's last link is deleted and the digest re-sealed to match.
    execute(engine, "DELETE FROM audit_events WHERE chain_seq = 4")
    head = links(engine, log.chain_id)[-1]
    (stored,) = SqlAuditTrail(engine).digests()
    assert stored.signed is not None
    forged = signer.sign(
        AuditDigest(
            sequence=1,
            created_at=stored.signed.digest.created_at,
            heads={log.chain_id: ChainHead(seq=3, hash=head["event_hash"])},
            events=3,
            previous_hash=GENESIS,
        )
    )
    change(
        engine,
        DIGESTS,
        DIGESTS.c.sequence == 1,
        heads={log.chain_id: {"seq": 3, "hash": head["event_hash"]}},
        events=3,
        digest_hash=forged.digest_hash,
        signature=forged.signature,
    )

    assert verify(engine, signer).intact
    (problem,) = verify(engine, signer, archive).problems
    assert (problem.kind, problem.digest_sequence) == ("digest", 1)
    assert "differs from its archived copy" in problem.message


def test_an_overwritten_or_deleted_archive_copy_is_named(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner, endpoint: LocalEndpoint
) -> None:
    log = SqlAuditLog(engine)
    written(log, 2)
    seal = sealer(engine, archive, signer)
    seal.seal()
    seal.seal()
    s3 = local_session(REGION).client("s3", endpoint_url=endpoint.url)
    bucket = archive.location.removeprefix("s3://").split("/", 1)[0]
    s3.put_object(Bucket=bucket, Key=digest_key(1), Body=b"{}")
    execute(engine, "DELETE FROM audit_digests WHERE sequence = 2")

    messages = [problem.message for problem in verify(engine, signer, archive).problems]

    assert messages == [
        f"the archived copy of digest 1 was overwritten: {digest_key(1)} has 2 versions",
        f"digest 2 is archived at {digest_key(2)} but deleted from the store",
    ]


def test_archived_digests_are_locked_in_compliance_mode(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner, endpoint: LocalEndpoint
) -> None:
    written(SqlAuditLog(engine), 2)
    sealed = sealer(engine, archive, signer).seal()

    s3 = local_session(REGION).client("s3", endpoint_url=endpoint.url)
    bucket = archive.location.removeprefix("s3://").split("/", 1)[0]
    head = s3.head_object(Bucket=bucket, Key=sealed.archived.key, VersionId=sealed.archived.version_id)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert (
        datetime.now(UTC) + timedelta(hours=23)
        < head["ObjectLockRetainUntilDate"]
        <= datetime.now(UTC) + timedelta(days=1)
    )
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_digests_link_to_each_other_and_a_missed_archive_is_caught_up(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner
) -> None:
    log = SqlAuditLog(engine)
    written(log, 2)
    seal = sealer(engine, archive, signer)
    first = seal.seal()
    execute(engine, "UPDATE audit_digests SET archive_key = NULL, archive_version_id = NULL")
    written(log, 1)

    second = seal.seal()

    assert second.signed.digest.previous_hash == first.signed.digest_hash
    assert second.archived_earlier == (1,)
    assert second.signed.digest.heads[log.chain_id].seq == 3
    assert verify(engine, signer, archive).intact


def test_concurrent_writers_leave_every_chain_valid(engine: Engine, signer: DigestSigner) -> None:
    logs = [SqlAuditLog(engine) for _ in range(3)]
    threads, per_thread = 6, 40
    start = threading.Barrier(threads)

    def write(worker: int) -> None:
        log = logs[worker % len(logs)]
        start.wait()
        for index in range(per_thread):
            if index % 4 == 0:
                log.append_many([make_event(invocation_id=f"{worker}-{index}-{n}") for n in range(3)])
            else:
                log.append(make_event(invocation_id=f"{worker}-{index}"))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for outcome in [pool.submit(write, worker) for worker in range(threads)]:
            outcome.result()

    report = verify(engine, signer)
    assert report.intact, report.problems
    assert (report.chains, report.events) == (3, threads * (per_thread + per_thread // 4 * 2))


def test_writers_sharing_a_chain_id_reload_the_head_and_stay_valid(engine: Engine, signer: DigestSigner) -> None:
    first = SqlAuditLog(engine)
    first.append(make_event())
    second = SqlAuditLog(engine, chain_id=first.chain_id)
    second.append(make_event())
    first.append(make_event())
    second.append_many([make_event(), make_event()])

    assert [row["chain_seq"] for row in links(engine, first.chain_id)] == [1, 2, 3, 4, 5]
    assert verify(engine, signer).intact


def test_a_failed_transaction_leaves_the_chain_as_it_was(engine: Engine, signer: DigestSigner) -> None:
    log = SqlAuditLog(engine)
    taken = make_event()
    log.append(taken)
    with pytest.raises(AuditWriteError):
        log.append_many([make_event(), make_event(event_id=taken.event_id)])
    first = make_decision(request_id="req-1")
    log.record_decision(first, {}, decision_event(first))
    with pytest.raises(DuplicateDecisionError):
        log.record_decision(make_decision(request_id="req-1"), {}, make_event())
    log.append(make_event())

    assert [row["chain_seq"] for row in links(engine, log.chain_id)] == [1, 2, 3]
    assert verify(engine, signer).intact


def test_record_decision_stores_score_review_flag_and_features(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    scored = make_decision(score=0.25, review_required=True)
    fallback = make_decision(request_id="req-2", score=None, model=None, fallback=True)
    log.record_decision(scored, {}, decision_event(scored), features={"income_log": 10.5, "ratio": 0.25})
    log.record_decision(fallback, {}, decision_event(fallback))

    with engine.connect() as connection:
        rows = {
            row.decision_id: row
            for row in connection.execute(
                text("SELECT decision_id, score, review_required, features IS NULL AS unscored FROM decisions")
            )
        }
    assert (rows[scored.decision_id].score, bool(rows[scored.decision_id].review_required)) == (0.25, True)
    assert not rows[scored.decision_id].unscored
    assert rows[fallback.decision_id].score is None
    assert rows[fallback.decision_id].unscored
    assert SqlDecisionStore(engine).get(scored.decision_id) == MadeDecision(scored, MAKER)


def test_search_pages_by_time_and_id_with_an_opaque_cursor(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    same_time = [make_event(use_case="credit", occurred_at=BASE_TIME) for _ in range(3)]
    later = [make_event(use_case="credit", occurred_at=BASE_TIME + timedelta(seconds=n + 1)) for n in range(3)]
    log.append_many([*later, *same_time, make_event(use_case="other")])
    expected = sorted(same_time, key=lambda e: e.event_id) + later
    query = AuditQuery(use_case="credit")

    pages, cursor = [], None
    while True:
        page = log.search(query, cursor=cursor, limit=4)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(page.records) for page in pages] == [4, 2]
    records = [record for page in pages for record in page.records]
    assert [record.event for record in records] == expected
    assert all(isinstance(record, AuditRecord) and record.chain.chain_id == log.chain_id for record in records)
    assert list(log.iter_records(query)) == records
    assert log.search(query, cursor=None, limit=6).next_cursor is None
    with pytest.raises(InvalidCursorError):
        log.search(query, cursor="not-a-cursor", limit=2)


def test_queries_filter_on_every_field(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    target = make_event(
        decision_id="d-1",
        use_case="credit",
        model_version="7",
        principal="svc-a",
        action="decision.read",
        outcome="rejected",
        source="GovernanceApiFunction",
        occurred_at=BASE_TIME + timedelta(minutes=5),
    )
    log.append_many([target, make_event(), make_event(occurred_at=BASE_TIME + timedelta(minutes=10))])
    filters: dict[str, Any] = {
        "decision_id": "d-1",
        "use_case": "credit",
        "model_version": "7",
        "principal": "svc-a",
        "action": "decision.read",
        "outcome": "rejected",
        "source": "GovernanceApiFunction",
        "trace_id": target.trace_id,
    }
    for name, value in filters.items():
        assert log.events(AuditQuery(**{name: value})) == [target], name
    window = AuditQuery(since=BASE_TIME + timedelta(minutes=5), until=BASE_TIME + timedelta(minutes=10))
    assert log.events(window) == [target]
    assert log.count(window) == 1
    assert log.count() == 3


def test_a_verification_in_progress_does_not_hold_up_writers(engine: Engine) -> None:
    log = SqlAuditLog(engine)
    written(log, 3)
    reading = SqlAuditTrail(engine).links()
    next(reading)

    log.append(make_event())

    assert sum(1 for _ in reading) == 2
    reading.close()
    assert len(links(engine, log.chain_id)) == 4


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_walk_ranges_of_chains_and_find_the_same(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner, start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forked from a process that runs nothing else (as `leaim audit verify`), spawned beside threads (as here).
    monkeypatch.setattr(verification, "_start_method", lambda: start_method)
    logs = [SqlAuditLog(engine) for _ in range(4)]
    ids = {log.chain_id: written(log, 5) for log in logs}
    sealer(engine, archive, signer).seal()
    last = max(ids)
    execute(engine, "UPDATE audit_events SET outcome = 'error' WHERE event_id = :id", id=ids[last][1])
    execute(engine, "DELETE FROM audit_events WHERE chain_id = :chain", chain=min(ids))
    keys = {signer.key_id: signer.public_key}

    alone = TrailVerifier(keys).verify(SqlAuditTrail(engine), archive)
    together = TrailVerifier(keys, workers=2, parallel_from=1).verify(SqlAuditTrail(engine), archive)

    assert together == alone
    assert [(problem.kind, problem.chain_id) for problem in together.problems] == [
        ("modified", last),
        ("deleted", min(ids)),
    ]
    assert (together.chains, together.events) == (3, 15)


def test_values_edited_into_another_type_are_modifications(tmp_path: Path, signer: DigestSigner) -> None:
    # Only SQLite lets a column take a value of another type; PostgreSQL refuses such an edit outright.
    engine = create_engine_for(f"sqlite:///{tmp_path / 'typed.db'}")
    create_schema(engine)
    log = SqlAuditLog(engine)
    ids = written(log, 3, details={"score": 0.5})
    execute(engine, "UPDATE audit_events SET duration_ms = 'slow' WHERE event_id = :id", id=ids[0])
    execute(engine, "UPDATE audit_events SET details = '{not json' WHERE event_id = :id", id=ids[2])

    problems = verify(engine, signer).problems

    assert [(problem.kind, problem.event_id) for problem in problems] == [("modified", ids[0]), ("modified", ids[2])]
    engine.dispose()


def test_no_digest_is_sealed_after_an_unreadable_one(
    engine: Engine, archive: S3DigestArchive, signer: DigestSigner
) -> None:
    written(SqlAuditLog(engine), 2)
    seal = sealer(engine, archive, signer)
    seal.seal()
    change(engine, DIGESTS, DIGESTS.c.sequence == 1, heads={"w-x": {"seq": "many"}})

    with pytest.raises(UnreadableDigestError, match="digest 1 is unreadable"):
        seal.seal()
    (problem,) = verify(engine, signer).problems
    assert (problem.kind, problem.digest_sequence) == ("digest", 1)
    assert "unreadable" in problem.message
