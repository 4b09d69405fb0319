"""`leaim load`: the local stack, trained and keyed, driven open-loop through a ramp of rates; its page and plot.

The stack runs in this process as `leaim up` runs it; the generator runs in a process of its own
(`embedded.load.launch`) and sends decisions over HTTP to the local gateway at each step's fixed rate, and
polls the governance API's audit search for a sample of them. The figures of every step, the latency
elasticity and the plot go to `docs/benchmarks/load.md` and `load.png`.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from embedded.bench.report import (
    DOCS_DIRECTORY,
    BenchmarkPage,
    Column,
    FigureTable,
    Target,
    describe_machine,
    format_ratio,
    publish,
)
from embedded.load.figures import SUSTAINED_SHARE, latency_elasticity, step_figures
from embedded.load.launch import run_generator
from embedded.load.plan import DEFAULT_RATES, LoadPlan, LoadStep, check_steps
from embedded.load.plot import plot_ramp
from embedded.synthetic import CardFraudGenerator
from embedded.world import REFERENCE_USE_CASE, LocalWorld, WorldOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from embedded.emulation.sandboxes import FunctionStats
    from embedded.load.figures import Elasticity, StepFigures
    from embedded.load.plan import GeneratorRun

PAGE_NAME = "load"
PLOT_NAME = "load.png"
# The load run's own stack: moto keeps resources for the life of the process, and other worlds may run in it.
STACK_NAME = "leaim-load"
TARGET_ELASTICITY = 3.0
CARDS = 500
DECISION_FUNCTION = "DecisionApiFunction"
# Before the ramp, this many decisions at once, a few times over: the ramp starts on that many warm sandboxes.
PRIME_SANDBOXES = 4
PRIME_ROUNDS = 3
DISTINCT_INPUTS = 2_000


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """The ramp and its measurement: rates (rising), seconds measured per rate, warm-up seconds before each."""

    rates: Sequence[float] = DEFAULT_RATES
    step_s: float = 20.0
    warmup_s: float = 5.0
    audit_samples: int = 10
    connections: int = 256
    training_rows: int = 10_000
    docs_dir: Path | None = DOCS_DIRECTORY

    @property
    def steps(self) -> list[LoadStep]:
        """The ramp, checked: `LoadPlanError` for rates that do not rise or a duration that is not positive."""
        steps = [LoadStep(rate=rate, duration_s=self.step_s, warmup_s=self.warmup_s) for rate in self.rates]
        check_steps(steps)
        return steps

    @property
    def command(self) -> str:
        """The command line that runs this ramp."""
        rates = ",".join(f"{rate:g}" for rate in self.rates)
        return (
            f"leaim load --rates {rates} --step-s {self.step_s:g} --warmup-s {self.warmup_s:g} "
            f"--audit-samples {self.audit_samples}"
        )


def run_load(console: Console, options: LoadOptions) -> int:
    """Start the local stack, train and key it, run the ramp, print the figures and write the page and plot.

    Returns the exit status: 0 once the figures are written, whatever they are.
    """
    steps = options.steps
    started_at = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="leaim-load-") as state,
        LocalWorld(WorldOptions(state_dir=Path(state), stack_name=STACK_NAME, run_schedules=False)) as world,
    ):
        with console.status("Training the reference model..."):
            world.train(rows=options.training_rows)
        generator = CardFraudGenerator(world.manifest, seed=world.options.seed + 1)
        cards = generator.cards(CARDS)
        world.seed(cards)
        plan = LoadPlan(
            api_url=world.running.api_url,
            path=f"/v1/decisions/{REFERENCE_USE_CASE}",
            headers={"x-api-key": world.api_keys["decision_client"], "content-type": "application/json"},
            inputs=[dict(t.inputs) for t in generator.transactions(DISTINCT_INPUTS, cards)],
            request_prefix=f"load-{world.run_id}",
            steps=steps,
            audit_samples=options.audit_samples,
            audit_headers={"x-api-key": world.api_keys["auditor"]},
            connections=options.connections,
        )
        budget_ms = float(world.manifest.latency_budget_ms)
        with console.status(f"Priming the stack: {PRIME_SANDBOXES} sandboxes of the decision function, warm..."):
            _prime(world, plan)
        before = world.running.stats.functions[DECISION_FUNCTION]
        seconds = sum(step.warmup_s + step.duration_s for step in steps)
        with console.status(f"Open-loop ramp over {len(steps)} rates, {seconds:.0f} s of arrivals..."):
            run = run_generator(plan)
        sandboxes = _SandboxUse.between(before, world.running.stats.functions[DECISION_FUNCTION])
    figures = [step_figures(step) for step in run.steps]
    elasticity = latency_elasticity(figures, budget_ms)
    page = _page(options, plan, started_at, figures, elasticity, budget_ms, run, sandboxes)
    publish(console, page, None)
    if options.docs_dir is not None:
        plot = plot_ramp(figures, budget_ms, options.docs_dir / PLOT_NAME)
        path = options.docs_dir / f"{PAGE_NAME}.md"
        path.write_text(page.markdown() + _plot_section(plot.name), encoding="utf-8")
        console.print(f"Wrote {path} and {plot}", markup=False, highlight=False)
    return 0


def _prime(world: LocalWorld, plan: LoadPlan) -> None:
    """Decide a few requests on `PRIME_SANDBOXES` threads at once, and search the audit trail once, so that the
    ramp starts on that many warm sandboxes of the decision function rather than on cold ones; `LocalCallError`
    when the stack does not answer them."""

    def decide(thread: int) -> None:
        for round_ in range(PRIME_ROUNDS):
            number = thread * PRIME_ROUNDS + round_
            inputs = plan.inputs[number % len(plan.inputs)]
            body = {"request_id": f"{plan.request_prefix}-prime-{number}", "inputs": inputs}
            world.call("POST", plan.path, "decision_client", body)

    with ThreadPoolExecutor(max_workers=PRIME_SANDBOXES) as pool:
        list(pool.map(decide, range(PRIME_SANDBOXES)))
    world.call("GET", f"{plan.audit_path}?limit=1", "auditor")


@dataclass(frozen=True, slots=True)
class _SandboxUse:
    """What the decision function's sandbox pool did during the ramp."""

    limit: int
    started: int
    most: int
    throttled: int
    invocations: int

    @classmethod
    def between(cls, before: FunctionStats, after: FunctionStats) -> _SandboxUse:
        return cls(
            limit=after.concurrency_limit,
            started=after.cold_starts - before.cold_starts,
            most=after.sandboxes,
            throttled=after.throttles - before.throttles,
            invocations=after.invocations - before.invocations,
        )


def _page(
    options: LoadOptions,
    plan: LoadPlan,
    started_at: datetime,
    figures: list[StepFigures],
    elasticity: Elasticity,
    budget_ms: float,
    run: GeneratorRun,
    sandboxes: _SandboxUse,
) -> BenchmarkPage:
    return BenchmarkPage(
        name=PAGE_NAME,
        title="Load: the decision API under open-loop arrivals",
        summary=(
            "The local stack as `leaim up` runs it, with the reference model trained, its online features seeded "
            f"and {PRIME_SANDBOXES} sandboxes of its decision function warmed first, driven over HTTP by an "
            "open-loop generator in a process of its own: Locust in library mode, with one dispatcher that starts "
            "each request at its scheduled instant (request i of a step at i / rate seconds) whether or not the "
            "earlier ones have answered, so every step sends rate x (warm-up + duration) requests however slow "
            f"the answers. Each rate is held {options.warmup_s:g} s before a measured window of "
            f"{options.step_s:g} s; latency runs from each request's scheduled instant to its answer. For "
            f"{options.audit_samples} decisions per step, spread over the window, the generator polls the "
            f"governance API's audit search every {plan.audit_poll_s:g} s until it finds the decision's audit "
            "event: that is the audit lag, to within the polling interval. A "
            f"step is sustained when it achieves at least {SUSTAINED_SHARE:.0%} of its offered rate with no "
            f"error and a p99 under the `{REFERENCE_USE_CASE}` manifest's latency budget of {budget_ms:g} ms."
        ),
        command=options.command,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=[_steps_table(figures, budget_ms)],
        targets=[_elasticity_target(elasticity)],
        findings=[
            _elasticity_finding(elasticity, budget_ms),
            _locust_finding(figures, run),
            _sandbox_finding(sandboxes),
            *_error_findings(figures),
        ],
    )


def _steps_table(figures: list[StepFigures], budget_ms: float) -> FigureTable:
    return FigureTable(
        title="Each rate of the ramp, over its measured window",
        columns=(
            Column("offered/s"),
            Column("sent"),
            Column("achieved/s"),
            Column("decisions/s"),
            Column("p50 ms"),
            Column("p95 ms"),
            Column("p99 ms"),
            Column("errors (non-2xx + no answer)"),
            Column("fallbacks"),
            Column("audit lag p50 / max s (found)"),
            Column("start lag p99 ms"),
            Column("sustained", figures=False),
        ),
        rows=[
            (
                f"{step.offered_rate:,.1f}",
                f"{step.sent:,}",
                f"{step.achieved_rate:,.1f}",
                f"{step.decisions_per_s:,.1f}",
                f"{step.p50_ms:,.1f}",
                f"{step.p95_ms:,.1f}",
                f"{step.p99_ms:,.1f}",
                f"{step.errors:,} ({step.non_2xx:,} + {step.transport_errors:,})",
                f"{step.fallbacks:,}",
                _audit_cell(step),
                f"{step.start_lag_p99_ms:,.1f}",
                "yes" if step.sustained(budget_ms) else "no",
            )
            for step in figures
        ],
        note=(
            "`sent` counts every request the step started, its warm-up included; the other figures count the "
            "measured window only. `achieved/s` is answers of any status received in the window per second, "
            "`decisions/s` the 2xx ones (fallbacks are decisions too). `start lag` is how late the generator "
            "started a request after its scheduled instant: it shows the schedule was kept."
        ),
    )


def _audit_cell(step: StepFigures) -> str:
    if step.audit_lag_p50_s is None or step.audit_lag_max_s is None:
        return f"- ({step.audit_found}/{step.audit_sampled})"
    return f"{step.audit_lag_p50_s:.2f} / {step.audit_lag_max_s:.2f} ({step.audit_found}/{step.audit_sampled})"


def _elasticity_target(elasticity: Elasticity) -> Target:
    ratio = elasticity.ratio
    return Target(
        what="latency elasticity: p99 at the highest sustained rate over p99 at the lowest rate",
        target=f"<= {TARGET_ELASTICITY:g}",
        measured="n/a (the lowest rate was not sustained)" if ratio is None else format_ratio(ratio),
        met=ratio is not None and ratio <= TARGET_ELASTICITY,
    )


def _elasticity_finding(elasticity: Elasticity, budget_ms: float) -> str:
    lowest, highest = elasticity.lowest, elasticity.highest
    if highest is None:
        return (
            f"Even the lowest rate, {lowest.offered_rate:g}/s, was not sustained (p99 {lowest.p99_ms:,.1f} ms "
            f"against the budget of {budget_ms:g} ms, {lowest.errors} errors, "
            f"{lowest.achieved_rate:,.1f}/s achieved)."
        )
    return (
        f"The highest rate sustained, every rate below it sustained too, is {highest.offered_rate:g}/s with p99 "
        f"{highest.p99_ms:,.1f} ms; the lowest, {lowest.offered_rate:g}/s, had p99 {lowest.p99_ms:,.1f} ms."
    )


def _locust_finding(figures: list[StepFigures], run: GeneratorRun) -> str:
    decisions = sum(step.sent for step in figures)
    return (
        f"Locust counted {run.locust_requests:,} requests and {run.locust_failures:,} failures over the ramp: the "
        f"{decisions:,} decision requests started and the audit searches of the lag samples."
    )


def _sandbox_finding(sandboxes: _SandboxUse) -> str:
    return (
        f"{DECISION_FUNCTION} over the ramp: {sandboxes.invocations:,} invocations, {sandboxes.started:,} sandboxes "
        f"started cold on top of the {PRIME_SANDBOXES} primed, {sandboxes.most:,} alive at the end, of at most "
        f"{sandboxes.limit:,}; {sandboxes.throttled:,} invocations throttled (every sandbox busy), which the gateway "
        "answers 500 as API Gateway does."
    )


def _error_findings(figures: list[StepFigures]) -> list[str]:
    findings = []
    for step in figures:
        kinds = [f"HTTP {status} x{count:,}" for status, count in step.non_2xx_statuses]
        kinds += [f"no answer ({kind}) x{count:,}" for kind, count in step.transport_error_kinds]
        if kinds:
            findings.append(f"Errors at {step.offered_rate:g}/s: {', '.join(kinds)}.")
    return findings


def _plot_section(plot_name: str) -> str:
    return (
        "\n## Latency and achieved rate against offered rate\n\n"
        f"![Latency percentiles and achieved rate against offered rate]({plot_name})\n"
    )
