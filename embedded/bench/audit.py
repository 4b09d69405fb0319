"""`leaim bench-audit`: audit appends with their hash chains, and full verification of the trail.

Appends are measured batched (1,000 events per `append_many`, one transaction each) and one event per
transaction; a full verification reads every link, recomputes every hash and checks every digest and every
decision's binding. SQLite is a file (WAL, `synchronous=FULL`); PostgreSQL is a database created for the run on
the given server and dropped after it. Figures are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from rich.table import Table
from sqlalchemy.engine import make_url

from contracts.audit.v1 import AuditEvent
from contracts.decision.v1 import DecisionResponse, ModelRef, Reason
from leaim.adapters.sql import SqlAuditLog, SqlAuditTrail, create_engine_for, create_schema
from leaim.adapters.sql.audit_log import event_values
from leaim.domain.clock import SystemClock
from leaim.governance.audit.chain import link_events
from leaim.governance.audit.ports import ArchivedCopy, ArchivedDigest
from leaim.governance.audit.sealing import DigestSealer, DigestSigner
from leaim.governance.audit.verification import TrailVerifier, summary

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.console import Console
    from sqlalchemy import Engine

    from contracts.trail.v1 import SignedDigest

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BATCH = 1_000
BATCHED_EVENTS = 100_000
SINGLE_EVENTS = 1_000
POSTGRES_VERIFY_EVENTS = 200_000
# Chains the verified store is written by, as that many function containers would.
WRITERS = 8
DECISIONS = 1_000
# Processes walking the chains in the parallel verification: one per core, up to four (as `leaim audit verify`).
VERIFY_WORKERS = min(os.cpu_count() or 1, 4)
BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class MemoryArchive:
    """A `DigestArchive` in memory: the benchmark measures the store, not S3."""

    def __init__(self) -> None:
        self._copies: dict[int, bytes] = {}

    @property
    def location(self) -> str:
        """Where the copies are."""
        return "memory://digests/"

    def put(self, signed: SignedDigest) -> ArchivedCopy:
        """Keep a copy of `signed`."""
        self._copies[signed.digest.sequence] = signed.model_dump_json().encode()
        return ArchivedCopy(key=f"{signed.digest.sequence:012d}.json", version_id="1")

    def copies(self) -> Iterator[ArchivedDigest]:
        """Every copy kept, locked as S3 would."""
        for sequence, body in sorted(self._copies.items()):
            yield ArchivedDigest(sequence, f"{sequence:012d}.json", ("1",), body, "COMPLIANCE")


@dataclass(frozen=True)
class Measured:
    """One line of the results."""

    what: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


def sample_event(index: int, *, validated: bool = True) -> AuditEvent:
    """An event like those the decision path stores: decisions, worker calls and reads in turn."""
    kind = index % 3
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": BASE_TIME + timedelta(milliseconds=index),
        "source": "DecisionApiFunction" if kind != 1 else "InferenceWorker",
        "action": ("decision.create", "worker.inference", "decision.read")[kind],
        "invocation_id": uuid.uuid4().hex,
        "outcome": "success",
        "trace_id": uuid.uuid4().hex,
        "duration_ms": 3.0 + (index % 97) / 7,
        "status_code": 200 if kind != 1 else None,
        "principal": "svc-payments",
        "role": "decision_client",
        "use_case": "card_fraud",
        "request_id": f"r-{index}",
        # Events of decisions carry their ids; these stand for the others, as only stored decisions have ids.
        "decision_id": None,
        "model_name": "card-fraud",
        "model_version": "v3",
        "artifact_digest": "ab" * 32,
        "worker": "inference" if kind == 1 else None,
        "batch_size": 8 if kind == 1 else None,
        "details": {"outcome": "approved", "score": round(0.001 * (index % 1000), 3), "latency_ms": 11.5}
        if kind == 0
        else {},
    }
    if validated:
        return AuditEvent(**fields)
    return AuditEvent.model_construct(**fields)


def sample_decision(index: int) -> DecisionResponse:
    """A scored decision of the reference use case."""
    return DecisionResponse(
        decision_id=uuid.uuid4().hex,
        request_id=f"bench-{index}",
        use_case="card_fraud",
        outcome="approved",
        score=0.125,
        reasons=[Reason(kind="feature", code="amount", message="small amount", feature="amount", contribution=0.1)],
        model=ModelRef(name="card-fraud", version="v3", artifact_digest="ab" * 32),
        fallback=False,
        review_required=False,
        trace_id=uuid.uuid4().hex,
        decided_at=BASE_TIME,
        latency_ms=12.0,
    )


def run_audit_bench(console: Console, *, events: int, postgres: str | None) -> int:
    """Measure appends and verification on SQLite and, when given a server, on PostgreSQL; print the figures."""
    results = [_chain_alone(console)]
    with tempfile.TemporaryDirectory(prefix="leaim-bench-audit-") as folder:
        engine = create_engine_for(f"sqlite:///{Path(folder) / 'audit.db'}")
        create_schema(engine)
        results += _appends(engine, "SQLite", console)
        results += _verification(engine, "SQLite", events, console)
        engine.dispose()
    if postgres is not None:
        with _fresh_database(postgres) as url:
            engine = create_engine_for(url)
            create_schema(engine)
            results += _appends(engine, "PostgreSQL", console)
            results += _verification(engine, "PostgreSQL", min(events, POSTGRES_VERIFY_EVENTS), console)
            engine.dispose()
    table = Table(title="Audit trail: appends with the hash chain, and full verification")
    for column in ("measurement", "events", "seconds", "events/s"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for result in results:
        table.add_row(result.what, f"{result.events:,}", f"{result.seconds:.2f}", f"{result.rate:,.0f}")
    console.print(table)
    return 0


def _appends(engine: Engine, store: str, console: Console) -> list[Measured]:
    batched = [sample_event(index) for index in range(BATCHED_EVENTS)]
    single = [sample_event(index) for index in range(SINGLE_EVENTS)]
    log = SqlAuditLog(engine)
    with console.status(f"{store}: {len(batched):,} events, {BATCH:,} per transaction..."):
        started = time.perf_counter()
        for start in range(0, len(batched), BATCH):
            log.append_many(batched[start : start + BATCH])
        batched_s = time.perf_counter() - started
    with console.status(f"{store}: {len(single):,} events, one per transaction..."):
        started = time.perf_counter()
        for event in single:
            log.append(event)
        single_s = time.perf_counter() - started
    return [
        Measured(f"{store} append, {BATCH:,} events per transaction", len(batched), batched_s),
        Measured(f"{store} append, one event per transaction", len(single), single_s),
    ]


def _verification(engine: Engine, store: str, events: int, console: Console) -> list[Measured]:
    """Fill the store to `events` from several writers with decisions among them, seal, then verify it all."""
    signer = DigestSigner.generate()
    archive = MemoryArchive()
    sealer = DigestSealer(store=SqlAuditTrail(engine), archive=archive, signer=lambda: signer, clock=SystemClock())
    writers = [SqlAuditLog(engine) for _ in range(WRITERS)]
    stored = BATCHED_EVENTS + SINGLE_EVENTS
    with console.status(f"{store}: {DECISIONS:,} decisions..."):
        for index in range(DECISIONS):
            decision = sample_decision(index)
            event = sample_event(index * 3).model_copy(update={"decision_id": decision.decision_id})
            writers[index % WRITERS].record_decision(decision, {"amount": 12.5}, event, features={"amount_log": 2.6})
        stored += DECISIONS
    # Digests at half and nine tenths of the fill: the last tenth is left unsealed, as between two runs.
    seals = [events // 2, events * 9 // 10]
    with console.status(f"{store}: filling to {events:,} events from {WRITERS} writers..."):
        batch = 0
        while stored < events:
            count = min(BATCH, events - stored)
            writers[batch % WRITERS].append_many([sample_event(stored + n, validated=False) for n in range(count)])
            stored += count
            batch += 1
            while seals and stored >= seals[0]:
                sealer.seal()
                seals.pop(0)
    keys = {signer.key_id: signer.public_key}
    measured = []
    for workers in sorted({1, VERIFY_WORKERS}):
        # No progress display here: its thread would make the workers spawn instead of fork, as the CLI does.
        console.print(f"{store}: verifying {stored:,} events with {workers} processes...", highlight=False)
        started = time.perf_counter()
        report = TrailVerifier(keys, workers=workers).verify(SqlAuditTrail(engine), archive)
        seconds = time.perf_counter() - started
        console.print(f"{store}: {summary(report)}", markup=False, highlight=False, soft_wrap=True)
        what = f"{store} full verification, {workers} process{'es' if workers > 1 else ''}"
        measured.append(Measured(what, report.events, seconds))
    console.print(
        f"{store}: the verified store holds {report.chains} chains, {report.digests} digests and "
        f"{report.decisions:,} decisions.",
        markup=False,
        highlight=False,
    )
    return measured


def _chain_alone(console: Console) -> Measured:
    """The hash chain's own cost: linking events that are already column values, with no store."""
    values = [event_values(sample_event(index)) for index in range(BATCHED_EVENTS)]
    with console.status("Linking events without a store..."):
        started = time.perf_counter()
        for start in range(0, len(values), BATCH):
            link_events("w-bench", None, values[start : start + BATCH])
        seconds = time.perf_counter() - started
    return Measured("hash chain alone (canonical JSON and sha256, no store)", len(values), seconds)


@contextlib.contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    """A database created on the server for this run, dropped after it."""
    name = f"leaim_bench_audit_{uuid.uuid4().hex[:12]}"
    server = make_url(server_url).set(drivername="postgresql")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
