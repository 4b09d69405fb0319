"""The audit writer's drain into PostgreSQL, for `leaim bench-audit`: accepted bundles into the hash chains.

Each measurement drains decision bundles (a decision row, its own event and one worker call, as the accepted
store holds them) through what the audit writer function runs per batch: the change stream's records read into
bundles (`stream_records`), then `SqlAuditIntake.store`: every event validated, the stored ids looked up, the new
events linked into the writer's chain and sent with `COPY`, the rows inserted in one multi-row `INSERT .. ON
CONFLICT DO NOTHING`, the batch's lag recorded, one commit. The floor is the same rows sent with plain `COPY`
alone, one transaction per batch: no parsing, no validation, no lookup, no hashing. Several writers drain at once
as several stream shards would, each its own process and its own chain, into one database. Each measurement has a
database of its own, created on the server for it and dropped after it.
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from pydantic_core import to_json
from sqlalchemy.engine import make_url

from contracts.audit.v1 import AuditEvent
from embedded.bench.samples import sample_decision, sample_event
from leaim.adapters.dynamodb_audit import bundle_item, decision_key
from leaim.adapters.sql import create_engine_for, create_schema
from leaim.adapters.sql.intake import SqlAuditIntake
from leaim.adapters.sql.rows import DECISIONS, EVENTS
from leaim.bootstrap.writer import stream_records
from leaim.governance.audit.chain import DECISION_SHA256, LINK_FIELDS, decision_sha256, link_events
from leaim.governance.audit.records import decision_values, event_values

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from multiprocessing.synchronize import Event

    from rich.console import Console

# Bundles per batch: Lambda's batch size for the writer is 1,000 records (template.yaml).
DRAIN_BATCHES = (100, 500, 1_000)
DRAIN_EVENTS = 60_000
# Writers draining at once, each a stream shard's: as many as this machine has cores, and twice that.
PARALLEL_WRITERS = (2, 4)
# A decision's bundle: its own event and the worker call it made.
EVENTS_PER_BUNDLE = 2
_EVENT_COLUMNS = (*LINK_FIELDS, "event_hash")
_DECISION_COLUMNS = tuple(DECISIONS.columns.keys())


@dataclass(frozen=True)
class Drained:
    """One drain measured: by how many writers, in batches of how many bundles, how many events in how long."""

    what: str
    writers: int
    batch: int
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


def measure_drain(
    server_url: str,
    console: Console,
    *,
    events: int = DRAIN_EVENTS,
    batches: Sequence[int] = DRAIN_BATCHES,
    parallel: Sequence[int] = PARALLEL_WRITERS,
) -> list[Drained]:
    """The floor at the widest batch, one writer at each batch size, then `parallel` writers at the widest."""
    widest = max(batches)
    with console.status(f"PostgreSQL: plain COPY of {events:,} events and their rows..."):
        measured = [_run(server_url, "copy", 1, widest, events)]
    for batch in batches:
        with console.status(f"PostgreSQL: one audit writer draining {events:,} events, {batch:,} bundles a batch..."):
            measured.append(_run(server_url, "writer", 1, batch, events))
    for writers in parallel:
        with console.status(f"PostgreSQL: {writers} audit writers draining {events:,} events at once..."):
            measured.append(_run(server_url, "writer", writers, widest, events))
    return measured


def _run(server_url: str, kind: str, writers: int, batch: int, events: int) -> Drained:
    """Drain `events` with `writers` processes started together; timed from the first start to the last end."""
    share = max(events // writers // EVENTS_PER_BUNDLE, 1)
    context = multiprocessing.get_context("spawn")
    with _fresh_database(server_url) as url:
        create = create_engine_for(url)
        create_schema(create)
        create.dispose()
        ready, results = context.Queue(), context.Queue()
        start = context.Event()
        processes = [
            context.Process(target=_drain_shard, args=(url, kind, shard, share, batch, ready, start, results))
            for shard in range(writers)
        ]
        for process in processes:
            process.start()
        try:
            for _ in processes:
                ready.get(timeout=300)
            start.set()
            spans = [results.get(timeout=600) for _ in processes]
        finally:
            for process in processes:
                process.join(timeout=60)
    drained = sum(count for _, _, count in spans)
    seconds = max(end for _, end, _ in spans) - min(begin for begin, _, _ in spans)
    if kind == "copy":
        what = f"plain COPY of the same rows, {batch:,} bundles per transaction (the floor)"
    else:
        who = "one audit writer" if writers == 1 else f"{writers} audit writers at once"
        what = f"{who}, {batch:,} bundles per batch"
    return Drained(what=what, writers=writers, batch=batch, events=drained, seconds=seconds)


def _drain_shard(
    url: str,
    kind: str,
    shard: int,
    bundles: int,
    batch: int,
    ready: Any,
    start: Event,
    results: Any,
) -> None:
    """One writer process: build its shard's stream records, wait for the start, drain them, report its span."""
    items = [_decision_item(shard * bundles + index) for index in range(bundles)]
    events = [_stream_event(items[first : first + batch], shard, first) for first in range(0, len(items), batch)]
    floor = (
        [_copy_rows(items[first : first + batch]) for first in range(0, len(items), batch)] if kind == "copy" else []
    )
    engine = create_engine_for(url)
    intake = SqlAuditIntake(engine, clock=time.time)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    # What was built is the batch's input, not garbage: in a Lambda container one batch is all there is.
    gc.collect()
    gc.freeze()
    ready.put(shard)
    start.wait()
    begin = time.time()
    if kind == "copy":
        with psycopg.connect(make_url(url).render_as_string(hide_password=False).replace("+psycopg", "")) as copier:
            for event_rows, decision_rows in floor:
                _plain_copy(copier, event_rows, decision_rows)
    else:
        for event in events:
            intake.store([_bundle(record) for record in stream_records(event)])
    end = time.time()
    engine.dispose()
    results.put((begin, end, bundles * EVENTS_PER_BUNDLE))


def _decision_item(index: int) -> dict[str, Any]:
    """The accepted store's item of one decision: its row, its own event bound to it, and its worker call."""
    decision = sample_decision(index)
    row = decision_values(decision, {"amount": 12.5, "country": "DE"}, {"amount_log": 2.6}, datetime.now(UTC))
    own = sample_event(index * 3).model_copy(
        update={"decision_id": decision.decision_id, "request_id": decision.request_id}
    )
    own = own.model_copy(update={"details": {**own.details, DECISION_SHA256: decision_sha256(row)}})
    call = sample_event(index * 3 + 1).model_copy(update={"decision_id": decision.decision_id})
    item: dict[str, Any] = bundle_item(decision_key(decision.decision_id), "decision", [own, call], row, time.time())
    return item


def _stream_event(items: Sequence[dict[str, Any]], shard: int, first: int) -> dict[str, Any]:
    """Lambda's DynamoDB Streams event of `items`, as the writer function receives it."""
    return {
        "Records": [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "dynamodb": {
                    "Keys": {"pk": item["pk"]},
                    "NewImage": item,
                    "SequenceNumber": f"{shard:04d}{first + offset:012d}",
                    "StreamViewType": "NEW_IMAGE",
                },
            }
            for offset, item in enumerate(items)
        ]
    }


def _bundle(record: Any) -> Any:
    if record.bundle is None:
        raise RuntimeError(f"the benchmark's own record {record.sequence_number} does not parse: {record.unreadable}")
    return record.bundle


def _copy_rows(items: Sequence[dict[str, Any]]) -> tuple[list[list[Any]], list[list[Any]]]:
    """The COPY rows of the items' events (already linked) and decisions: what the floor sends."""
    documents = [json.loads(item["events"]["S"]) for item in items]
    values = [event_values(AuditEvent.model_validate(document)) for group in documents for document in group]
    linked = link_events(f"w-floor-{uuid.uuid4().hex}", None, values)
    event_rows = []
    for link in linked:
        row = [link[name] for name in _EVENT_COLUMNS]
        row[_EVENT_COLUMNS.index("details")] = to_json(row[_EVENT_COLUMNS.index("details")]).decode()
        event_rows.append(row)
    decision_rows = []
    for item in items:
        stored = json.loads(item["row"]["S"])
        decision_rows.append(
            [
                to_json(stored[name]).decode() if name in ("response", "inputs", "features") else stored[name]
                for name in _DECISION_COLUMNS
            ]
        )
    return event_rows, decision_rows


def _plain_copy(connection: psycopg.Connection[Any], event_rows: list[list[Any]], rows: list[list[Any]]) -> None:
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY {EVENTS.name} ({', '.join(_EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in event_rows:
                copy.write_row(row)
        with cursor.copy(f"COPY {DECISIONS.name} ({', '.join(_DECISION_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    connection.commit()


@contextlib.contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    """A database created on the server for one measurement, dropped after it."""
    name = f"leaim_bench_drain_{uuid.uuid4().hex[:12]}"
    server = make_url(server_url).set(drivername="postgresql")
    with psycopg.connect(server.render_as_string(hide_password=False), autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
