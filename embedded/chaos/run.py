"""`leaim chaos`: the local stack, trained and keyed, put through each fault under steady traffic; one table.

Each fault runs on its own stretch of steady traffic (decisions over the local API at a fixed rate): a few
seconds of it before the fault, the fault itself with a burst of duplicates of requests already sent, the
fault lifted, then traffic until decisions are answered normally again. Once the traffic has stopped and the
audit writer has settled, every promise is checked (`embedded.chaos.checks`): each decision answered can be
read back and has exactly one audit event in the trail, and no request id has two decisions.

The stack runs in this process, on a small tmpfs mounted for the run when this process may mount one (so that
filling its disk fills no real disk), with PostgreSQL behind a TCP proxy as its audit store and registry when
a server is given. Killing the whole stack needs a stack in a process of its own: `embedded.chaos.restart`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from embedded.bench.report import DOCS_DIRECTORY, BenchmarkPage, Column, FigureTable, Target, describe_machine, publish
from embedded.chaos.checks import (
    RECOVERED_AFTER,
    Exchange,
    Findings,
    TrailEvent,
    examine,
    fallbacks_normal,
    recovery_seconds,
)
from embedded.chaos.proxy import TcpProxy
from embedded.chaos.scenarios import (
    AUDIT_WRITER_FUNCTION,
    DECISION_FUNCTION,
    CutPostgres,
    Duplicates,
    EndpointFault,
    FillDisk,
    HangWorker,
    KillSandboxes,
    KillWorker,
    Scenario,
)
from embedded.chaos.scenarios import Target as FaultTarget
from embedded.chaos.traffic import CONNECTIONS, SteadyTraffic, read_back
from embedded.chaos.training import train
from embedded.emulation.exceptions import StreamsBehindError
from embedded.synthetic import CardFraudGenerator
from embedded.world import REFERENCE_USE_CASE, LocalWorld, WorldOptions
from leaim.governance.ports import AuditQuery

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from rich.console import Console

PAGE_NAME = "chaos"
# The suite's own stack: moto keeps resources for the life of the process, and other worlds may run in it.
STACK_NAME = "leaim-chaos"
CARDS = 200
DISTINCT_INPUTS = 500
# The tmpfs the state directory lives on: the stack's state for one run, with room to spare.
DISK_MB = 512
# How long the suite waits, after a fault, for the decisions to be answered normally again.
RECOVERY_LIMIT_S = 60.0
# Seconds of decisions at the traffic's full concurrency before the first fault.
PRIME_S = 6.0
# The short variant (`--short`, and CI): one fault of each family, quickly.
SHORT_FAULTS = (
    "kill -9 a worker",
    "kill -9 the decision API sandboxes",
    "kill -9 the audit writer sandboxes",
    "DynamoDB throttles",
    "a burst of duplicates",
)


def all_scenarios(error_rate: float) -> list[Scenario]:
    """Every fault the suite runs in this process, in the order it runs them."""
    return [
        KillWorker(),
        HangWorker(),
        KillSandboxes(DECISION_FUNCTION, "decision API"),
        KillSandboxes(AUDIT_WRITER_FUNCTION, "audit writer"),
        CutPostgres(),
        EndpointFault("dynamodb", "error", error_rate),
        EndpointFault("dynamodb", "throttle", error_rate),
        EndpointFault("dynamodbstreams", "error", error_rate),
        EndpointFault("s3", "error", error_rate),
        EndpointFault("s3", "throttle", error_rate),
        EndpointFault("sqs", "error", error_rate),
        EndpointFault("sqs", "throttle", error_rate),
        Duplicates(),
        FillDisk(),
    ]


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    """Which faults, how much traffic, for how long."""

    faults: Sequence[str] | None = None
    rate: float = 2.0
    before_s: float = 4.0
    fault_s: float = 10.0
    error_rate: float = 0.5
    training_rows: int = 4_000
    postgres_url: str | None = None
    docs_dir: Path | None = DOCS_DIRECTORY.parent
    command: str = "leaim chaos"

    def selected(self, names: Sequence[str]) -> list[str]:
        """The names of `names` this run selects, in their order; ValueError naming one that is no fault."""
        if self.faults is None:
            return list(names)
        unknown = [name for name in self.faults if name not in names]
        if unknown:
            raise ValueError(f"no fault named {', '.join(unknown)}; the faults are: {', '.join(names)}")
        return [name for name in names if name in self.faults]


@dataclass
class SuiteResult:
    """Every fault's row, the faults skipped with the reason, and what else the run noticed."""

    rows: list[Findings] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    described: dict[str, str] = field(default_factory=dict)


def fault_names(error_rate: float = 0.5) -> list[str]:
    """Every fault's name, the stack kill included, in the table's order."""
    from embedded.chaos.restart import STACK_KILL_NAME

    return [scenario.name for scenario in all_scenarios(error_rate)] + [STACK_KILL_NAME]


def run_chaos(console: Console, options: ChaosOptions) -> tuple[int, SuiteResult]:
    """Run the selected faults; print the table and write the page. Exit status 1 when a promise broke."""
    from embedded.chaos.restart import STACK_KILL_NAME, StackKill

    started_at = datetime.now(UTC)
    selected = options.selected(fault_names(options.error_rate))
    result = SuiteResult()
    scenarios = [s for s in all_scenarios(options.error_rate) if s.name in selected]
    if scenarios:
        _run_in_process(console, options, scenarios, result)
    if STACK_KILL_NAME in selected:
        kill = StackKill(rate=options.rate, before_s=options.before_s, training_rows=options.training_rows)
        result.described[STACK_KILL_NAME] = kill.does
        with console.status("kill -9 the whole stack: `leaim up` in a process of its own..."):
            kill.run(result)
    page = _page(options, result, started_at)
    publish(console, page, options.docs_dir)
    return (1 if any(row.broken for row in result.rows) else 0), result


def _run_in_process(console: Console, options: ChaosOptions, scenarios: list[Scenario], result: SuiteResult) -> None:
    with contextlib.ExitStack() as stack:
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leaim-chaos-")))
        mounted = _mount_tmpfs(state_dir)
        if mounted:
            stack.callback(_unmount, state_dir)
        else:
            result.notes.append(
                "The state directory could not get a tmpfs of its own (mounting needs root), so its disk was not "
                "filled."
            )
        proxy: TcpProxy | None = None
        database_url: str | None = None
        if options.postgres_url is not None:
            database_url, proxy = stack.enter_context(_postgres_behind_proxy(options.postgres_url))
        world = stack.enter_context(
            LocalWorld(
                WorldOptions(
                    state_dir=state_dir,
                    stack_name=STACK_NAME,
                    run_schedules=False,
                    database_url=database_url,
                    breaker_reset_s=2.0,
                )
            )
        )
        if options.training_rows:
            with console.status("Training the reference model..."):
                train(world.call, world.manifest, options.training_rows, seed=world.options.seed)
        else:
            result.notes.append("No model was trained: every decision is the use case's fallback.")
        generator = CardFraudGenerator(world.manifest, seed=world.options.seed + 1)
        cards = generator.cards(CARDS)
        world.seed(cards)
        inputs = [dict(t.inputs) for t in generator.transactions(DISTINCT_INPUTS, cards)]
        with console.status("Priming the decision function's sandboxes..."):
            prime(world, inputs)
        target = FaultTarget(
            root_pid=os.getpid(), endpoint_url=world.running.endpoint_url, state_dir=state_dir, proxy=proxy
        )
        for scenario in scenarios:
            result.described[scenario.name] = scenario.does
            reason = scenario.unavailable(target)
            if reason is not None:
                result.skipped[scenario.name] = reason
                continue
            with console.status(f"{scenario.name}..."):
                row, notes = run_scenario(world, target, scenario, inputs, options)
            result.rows.append(row)
            result.notes += notes
            console.print(_row_line(row), highlight=False)


def run_scenario(
    world: LocalWorld,
    target: FaultTarget,
    scenario: Scenario,
    inputs: Sequence[Mapping[str, object]],
    options: ChaosOptions,
) -> tuple[Findings, list[str]]:
    """One fault under steady traffic, lifted, recovered from, then every promise checked: its row and notes."""
    notes: list[str] = []
    prefix = f"chaos-{world.run_id}-{uuid.uuid4().hex[:6]}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    traffic = SteadyTraffic(
        world.running.api_url,
        world.api_keys["decision_client"],
        REFERENCE_USE_CASE,
        inputs,
        rate=options.rate,
        prefix=prefix,
    )
    traffic.start()
    time.sleep(options.before_s)
    scenario.inject(target)
    injected_at = time.monotonic()
    if scenario.lasting:
        time.sleep(options.fault_s / 2)
        traffic.redeliver(scenario.burst)
        time.sleep(options.fault_s / 2)
        scenario.lift(target)
    else:
        traffic.redeliver(scenario.burst)
    ended_at = time.monotonic()
    # After a single blow the traffic goes on as long as a lasting fault would hold, so its effects can show.
    observed_until = ended_at + (0.0 if scenario.lasting else options.fault_s)
    deadline = ended_at + RECOVERY_LIMIT_S
    while time.monotonic() < deadline:
        answered = traffic.exchanges
        normal_fallbacks = fallbacks_normal([e for e in answered if e.sent_at < injected_at])
        recovered = recovery_seconds(answered, ended_at, fallbacks_are_normal=normal_fallbacks) is not None
        if recovered and time.monotonic() >= observed_until:
            break
        time.sleep(0.5)
    exchanges = traffic.stop()
    normal_fallbacks = fallbacks_normal([e for e in exchanges if e.sent_at < injected_at])
    try:
        world.settle()
    except StreamsBehindError as error:
        notes.append(f"{scenario.name}: {error}")
    events = _trail_events(world, since, prefix)
    readable = _readable(world, exchanges)
    row = examine(
        scenario.name,
        exchanges,
        events,
        readable=readable,
        fault_ended_at=ended_at,
        fallbacks_are_normal=normal_fallbacks,
    )
    notes += [f"{scenario.name}: {example}" for example in row.examples]
    reasons = Counter(e.fallback_reason for e in exchanges if e.decided and e.fallback and e.fallback_reason)
    if reasons:
        reason, times = reasons.most_common(1)[0]
        notes.append(f"{scenario.name}: the most frequent fallback reason ({times} of {row.fallbacks}): {reason}")
    return row, notes


def prime(world: LocalWorld, inputs: Sequence[Mapping[str, object]]) -> None:
    """Decisions at once, as many as the traffic keeps in flight, a few times over: the faults meet warm sandboxes."""
    traffic = SteadyTraffic(
        world.running.api_url,
        world.api_keys["decision_client"],
        REFERENCE_USE_CASE,
        inputs,
        rate=float(CONNECTIONS),
        prefix=f"chaos-{world.run_id}-prime",
    )
    traffic.start()
    time.sleep(PRIME_S)
    traffic.stop()


def _trail_events(world: LocalWorld, since: datetime, prefix: str) -> list[TrailEvent]:
    """The decision API's audit events of this fault's traffic: its requests', and those of the answers."""
    events = world.audit_log.events(AuditQuery(source=DECISION_FUNCTION, since=since), limit=1_000_000)
    return [
        TrailEvent(event.trace_id, event.request_id, event.decision_id, event.outcome)
        for event in events
        if event.request_id is None or event.request_id.startswith(prefix)
    ]


def _readable(world: LocalWorld, exchanges: Sequence[Exchange]) -> set[str]:
    """The decision ids of the answers that can be read back through the API."""
    decision_ids = sorted({e.decision_id for e in exchanges if e.decided and e.decision_id is not None})
    return read_back(world.running.api_url, world.api_keys["auditor"], decision_ids)


def _mount_tmpfs(directory: Path) -> bool:
    """Mount a small tmpfs on `directory`; whether it could (it needs root)."""
    if os.geteuid() != 0:
        return False
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(directory)],
        capture_output=True,
        check=False,
    )
    return mounted.returncode == 0


def _unmount(directory: Path) -> None:
    subprocess.run(["umount", "--lazy", str(directory)], capture_output=True, check=False)


@contextlib.contextmanager
def _postgres_behind_proxy(server_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """A database of the run's own on the server, reached through a proxy; dropped afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    admin_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"leaim_chaos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with TcpProxy(str(url.host or "127.0.0.1"), int(url.port or 5432)) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port, database=name)
            yield proxied.render_as_string(hide_password=False), proxy
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


COLUMNS = (
    Column("fault", figures=False),
    Column("requests"),
    Column("answered"),
    Column("fallbacks"),
    Column("5xx"),
    Column("lost"),
    Column("duplicated"),
    Column("unaudited"),
    Column("recovery (s)"),
)


def table_row(row: Findings) -> list[str]:
    """The row of the fault table for one fault."""
    recovery = "not recovered" if row.recovery_s is None else f"{row.recovery_s:.1f}"
    return [
        row.fault,
        str(row.requests),
        str(row.answered),
        str(row.fallbacks),
        str(row.server_errors),
        str(row.lost),
        str(row.duplicated),
        str(row.unaudited),
        recovery,
    ]


def fault_table(rows: Sequence[Findings]) -> FigureTable:
    """The table the suite ends with."""
    return FigureTable(
        title="Faults",
        columns=COLUMNS,
        rows=[table_row(row) for row in rows],
        note=(
            "requests: decisions sent during the fault's stretch of traffic, its duplicates included; answered: "
            "answered 200 with a decision; 5xx: answered 5xx, or not answered at all (refused, cut, timed out); "
            "lost: answered, but not readable afterwards (or an ingested record the ledger forgot); duplicated: a "
            "request id with two decisions; unaudited: a decision without exactly one audit event in the trail once "
            "the writer settled; recovery: seconds from the fault's end (its lifting, or the blow) until "
            f"{RECOVERED_AFTER} decisions in a row were answered as before the fault (a 200 without a fallback, "
            "unless most answers before the fault were fallbacks)."
        ),
    )


def _page(options: ChaosOptions, result: SuiteResult, started_at: datetime) -> BenchmarkPage:
    described = FigureTable(
        title="What each fault does",
        columns=(Column("fault", figures=False), Column("what it does", figures=False)),
        rows=[(name, does) for name, does in result.described.items()],
        note=(
            f"Steady traffic: {options.rate:g} decisions a second over the local API, {options.before_s:g} s before "
            f"each fault, {options.fault_s:g} s of a fault that lasts (or after a single blow), then until recovery "
            f"(at most {RECOVERY_LIMIT_S:g} s from the fault's end). Each fault also gets a burst of duplicates of "
            "requests already sent, halfway through a lasting fault or right after a blow."
        ),
    )
    targets = [
        Target(
            what=f"{row.fault}: lost / duplicated / unaudited",
            target="0 / 0 / 0",
            measured=f"{row.lost} / {row.duplicated} / {row.unaudited}",
            met=row.broken == 0,
        )
        for row in result.rows
    ]
    findings = [f"Not run: {name}: {reason}." for name, reason in result.skipped.items()] + result.notes
    return BenchmarkPage(
        name=PAGE_NAME,
        title="Fault suite",
        summary=(
            "Each fault is made on the local stack under steady decision traffic, then lifted; once the path has "
            "recovered and the audit writer has settled, every promise is checked: every decision answered can be "
            "read back and has exactly one audit event, and no request has two decisions."
        ),
        command=options.command,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=(fault_table(result.rows), described),
        targets=targets,
        findings=findings,
    )


def _row_line(row: Findings) -> str:
    return "  ".join(f"{heading.heading} {value}" for heading, value in zip(COLUMNS, table_row(row), strict=True))
