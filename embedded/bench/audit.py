"""`leaim bench-audit`: audit appends with their hash chains, full verification of the trail, and the audit
writer's drain of accepted events into the PostgreSQL chains (`embedded.bench.drain`).

Appends are measured batched (1,000 events per `append_many`, one transaction each) and one event per
transaction; a full verification reads every link, recomputes every hash and checks every digest and every
decision's binding. The floor is the hash chain alone: linking events that are already column values, with
no store. SQLite is a file (WAL, `synchronous=FULL`); PostgreSQL is a database created for the run on the
given server and dropped after it. Figures are printed and written to the docs, never asserted.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from embedded.bench.drain import DRAIN_EVENTS, Drained, measure_drain
from embedded.bench.report import (
    DOCS_DIRECTORY,
    BenchmarkPage,
    Column,
    FigureTable,
    Target,
    describe_machine,
    publish,
    ratio,
)
from embedded.bench.samples import sample_decision, sample_event
from leaim.adapters.sql import SqlAuditLog, SqlAuditTrail, create_engine_for, create_schema
from leaim.domain.clock import SystemClock
from leaim.governance.audit.chain import link_events
from leaim.governance.audit.ports import ArchivedCopy, ArchivedDigest
from leaim.governance.audit.records import event_values
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
TARGET_VERIFY_EVENTS = 1_000_000
TARGET_VERIFY_S = 30.0
TARGET_APPENDS_PER_S = 30_000
TARGET_DRAIN_PER_S = 30_000


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


@dataclass(frozen=True)
class StoreFigures:
    """What one store measured: its appends (batched first), its verifications (the widest last), and the
    verifier's summary of the store it verified."""

    store: str
    appends: list[Measured]
    verifications: list[Measured]
    summary: str


def run_audit_bench(
    console: Console,
    *,
    events: int,
    postgres: str | None,
    batched_events: int = BATCHED_EVENTS,
    single_events: int = SINGLE_EVENTS,
    decisions: int = DECISIONS,
    drain_events: int = DRAIN_EVENTS,
    docs_dir: Path | None = DOCS_DIRECTORY,
) -> int:
    """Measure appends and verification on SQLite and, when given a server, on PostgreSQL, and there the audit
    writer's drain; print the figures and write `audit.md` into `docs_dir` (nothing when None).

    `batched_events` are appended 1,000 per transaction and `single_events` one per transaction; the store
    is then filled to `events` (at most `POSTGRES_VERIFY_EVENTS` on PostgreSQL) with `decisions` stored
    decisions among them, sealed, and verified in full. Each drain moves `drain_events` accepted events into
    the chains. Returns the exit status.
    """
    started_at = datetime.now(UTC)
    chain = _chain_alone(console, batched_events)
    with tempfile.TemporaryDirectory(prefix="leaim-bench-audit-") as folder:
        url = f"sqlite:///{Path(folder) / 'audit.db'}"
        stores = [_measure_store(url, "SQLite", events, batched_events, single_events, decisions, console)]
    drained: list[Drained] = []
    if postgres is not None:
        size = min(events, POSTGRES_VERIFY_EVENTS)
        with _fresh_database(postgres) as url:
            stores.append(_measure_store(url, "PostgreSQL", size, batched_events, single_events, decisions, console))
        drained = measure_drain(postgres, console, events=drain_events)
    table = FigureTable(
        title="Audit trail: appends with the hash chain, and full verification",
        columns=(
            Column("measurement", figures=False),
            Column("events"),
            Column("seconds"),
            Column("events/s"),
            Column("x hash chain alone"),
        ),
        rows=[
            (
                result.what,
                f"{result.events:,}",
                f"{result.seconds:.2f}",
                f"{result.rate:,.0f}",
                ratio(result.rate, chain.rate),
            )
            for result in [chain, *(m for figures in stores for m in figures.appends + figures.verifications)]
        ],
        note="Each ratio is the row's rate over the rate of the hash chain alone.",
    )
    if postgres is None:
        server, postgres_sentence = "--no-postgres", "PostgreSQL was not measured in this run, nor the audit writer."
    else:
        server = f"--postgres {make_url(postgres).render_as_string(hide_password=True)}"
        postgres_sentence = (
            "PostgreSQL is a database created on the server for the run and dropped after it, its store "
            f"verified at up to {POSTGRES_VERIFY_EVENTS:,} events. On PostgreSQL the audit writer then drains "
            f"{drain_events:,} accepted events (decision bundles: a row, its event and a worker call) into the "
            "chains, in batches of several sizes and with several writers at once, against a plain `COPY` of the "
            "same rows: each in a database of its own."
        )
    page = BenchmarkPage(
        name="audit",
        title="Audit trail",
        summary=(
            "Appends of generated events through the real `SqlAuditLog`, hash chain included, batched "
            f"({BATCH:,} events per transaction) and one per transaction, against the hash chain alone "
            "(canonical JSON and sha256, no store); then a full verification of a store filled to "
            f"{events:,} events from {WRITERS} writers with {decisions:,} decisions among them, sealed twice: every "
            f"link, hash, digest and decision binding checked, in one process and in {_processes(VERIFY_WORKERS)} "
            f"(what `leaim audit verify` does). SQLite is a file (WAL, `synchronous=FULL`). {postgres_sentence}"
        ),
        command=f"leaim bench-audit --events {events} {server}",
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=[table, *([_drain_table(drained)] if drained else [])],
        targets=[target for figures in stores for target in _targets(figures)] + _drain_targets(drained),
        findings=[f"{figures.store}: {figures.summary}." for figures in stores] + _drain_findings(drained),
    )
    publish(console, page, docs_dir)
    return 0


def _drain_table(drained: list[Drained]) -> FigureTable:
    """The audit writer's drains against the floor, the plain COPY measured first."""
    floor = drained[0]
    return FigureTable(
        title="Audit writer: accepted bundles drained into the PostgreSQL hash chains",
        columns=(
            Column("measurement", figures=False),
            Column("writers"),
            Column("bundles per batch"),
            Column("events"),
            Column("seconds"),
            Column("events/s"),
            Column("x plain COPY"),
        ),
        rows=[
            (
                item.what,
                str(item.writers),
                f"{item.batch:,}",
                f"{item.events:,}",
                f"{item.seconds:.2f}",
                f"{item.rate:,.0f}",
                ratio(item.rate, floor.rate),
            )
            for item in drained
        ],
        note=(
            "Each ratio is the row's rate over the plain COPY's: the same rows written with no parsing, no "
            "validation, no lookup of stored events and no hash chain. Writers at once are separate processes, "
            "one chain each, as one writer per stream shard runs."
        ),
    )


def _drain_targets(drained: list[Drained]) -> list[Target]:
    """The drain target, judged on one writer at the widest batch and on the fewest writers that reach it."""
    if not drained:
        return []
    writers = drained[1:]
    widest = max(item.batch for item in writers)
    single = next(item for item in writers if item.writers == 1 and item.batch == widest)
    reaching = [item for item in writers if item.rate >= TARGET_DRAIN_PER_S]
    fewest = min(reaching, key=lambda item: (item.writers, -item.rate), default=None)
    best = max(writers, key=lambda item: item.rate)
    if fewest is None:
        measured = f"not reached: at best {best.rate:,.0f} events/s with {_writers(best.writers)}"
    else:
        measured = f"{_writers(fewest.writers)}: {fewest.rate:,.0f} events/s"
    return [
        Target(
            what=f"PostgreSQL: audit writer drain, one writer, {widest:,} bundles per batch",
            target=f">= {TARGET_DRAIN_PER_S:,} events/s",
            measured=f"{single.rate:,.0f} events/s",
            met=single.rate >= TARGET_DRAIN_PER_S,
        ),
        Target(
            what="PostgreSQL: audit writer drain, writers at once (one per stream shard)",
            target=f">= {TARGET_DRAIN_PER_S:,} events/s",
            measured=measured,
            met=fewest is not None,
        ),
    ]


def _drain_findings(drained: list[Drained]) -> list[str]:
    """What bounds the drain on this machine: the writers, or the database under them."""
    if not drained:
        return []
    floor, best = drained[0], max(drained[1:], key=lambda item: item.rate)
    bound = (
        "the database bounds the drain here, not the writers"
        if floor.rate < TARGET_DRAIN_PER_S
        else "the database takes the target's rate"
    )
    return [
        f"PostgreSQL: the plain COPY of the writer's rows reached {floor.rate:,.0f} events/s on this machine, so "
        f"{bound}; the fastest drain, {_writers(best.writers)}, reached {best.rate:,.0f} events/s "
        f"({ratio(best.rate, floor.rate)} of it)."
    ]


def _writers(count: int) -> str:
    return "one writer" if count == 1 else f"{count} writers at once"


def _measure_store(
    url: str, store: str, events: int, batched_events: int, single_events: int, decisions: int, console: Console
) -> StoreFigures:
    """Appends, then verifications, on a fresh schema at `url`."""
    engine = create_engine_for(url)
    try:
        create_schema(engine)
        appends = _appends(engine, store, batched_events, single_events, console)
        verifications, found = _verification(engine, store, events, batched_events + single_events, decisions, console)
    finally:
        engine.dispose()
    return StoreFigures(store, appends, verifications, found)


def _targets(figures: StoreFigures) -> list[Target]:
    """The append and verification targets, judged on the batched appends and the widest verification."""
    appended, verified = figures.appends[0], figures.verifications[-1]
    # A smaller store is judged at its own rate, as if it held the target's million events.
    seconds = verified.seconds * TARGET_VERIFY_EVENTS / verified.events if verified.events else 0.0
    measured = (
        f"{verified.seconds:.1f} s"
        if verified.events == TARGET_VERIFY_EVENTS
        else f"{verified.seconds:.1f} s for {verified.events:,} events: {seconds:.1f} s for "
        f"{TARGET_VERIFY_EVENTS:,} at that rate"
    )
    return [
        Target(
            what=f"{figures.store}: batched appends ({BATCH:,} events per transaction)",
            target=f">= {TARGET_APPENDS_PER_S:,} events/s",
            measured=f"{appended.rate:,.0f} events/s",
            met=appended.rate >= TARGET_APPENDS_PER_S,
        ),
        Target(
            what=f"{figures.store}: full verification of {TARGET_VERIFY_EVENTS:,} events, {_processes(VERIFY_WORKERS)}",
            target=f"<= {TARGET_VERIFY_S:g} s",
            measured=measured,
            met=seconds <= TARGET_VERIFY_S,
        ),
    ]


def _appends(engine: Engine, store: str, batched_events: int, single_events: int, console: Console) -> list[Measured]:
    batched = [sample_event(index) for index in range(batched_events)]
    single = [sample_event(index) for index in range(single_events)]
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


def _verification(
    engine: Engine, store: str, events: int, stored: int, decisions: int, console: Console
) -> tuple[list[Measured], str]:
    """Fill the store (holding `stored` events) to `events` from several writers with `decisions` decisions
    among them, seal, then verify it all; the verifications, and the summary of the last one."""
    signer = DigestSigner.generate()
    archive = MemoryArchive()
    sealer = DigestSealer(store=SqlAuditTrail(engine), archive=archive, signer=lambda: signer, clock=SystemClock())
    writers = [SqlAuditLog(engine) for _ in range(WRITERS)]
    with console.status(f"{store}: {decisions:,} decisions..."):
        for index in range(decisions):
            decision = sample_decision(index)
            event = sample_event(index * 3).model_copy(update={"decision_id": decision.decision_id})
            writers[index % WRITERS].record_decision(decision, {"amount": 12.5}, event, features={"amount_log": 2.6})
        stored += decisions
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
        console.print(f"{store}: verifying {stored:,} events with {_processes(workers)}...", highlight=False)
        started = time.perf_counter()
        report = TrailVerifier(keys, workers=workers).verify(SqlAuditTrail(engine), archive)
        seconds = time.perf_counter() - started
        console.print(f"{store}: {summary(report)}", markup=False, highlight=False, soft_wrap=True)
        measured.append(Measured(f"{store} full verification, {_processes(workers)}", report.events, seconds))
    return measured, summary(report)


def _processes(workers: int) -> str:
    return f"{workers} process{'es' if workers > 1 else ''}"


def _chain_alone(console: Console, events: int) -> Measured:
    """The hash chain's own cost: linking `events` events that are already column values, with no store."""
    values = [event_values(sample_event(index)) for index in range(events)]
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
