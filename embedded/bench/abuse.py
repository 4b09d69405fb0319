"""`leaim bench-abuse`: the abuse monitor's signals on many windows of seeded ordinary traffic and on attacks.

Ordinary principals each send a Poisson number of requests per window around their own level (a day-long swing of
half that level up and down), drawn by the reference use case's `CardFraudGenerator` over their own cards; the
inputs are minimized as the decision path stores them and the features computed by the serving transforms. The
champion's baseline is built by the training worker's own evaluation code from generated training rows. Every
window after a day of history is judged by `judge_window`, the abuse monitor's own judgement, with its default
thresholds; an alarm on an ordinary principal is a false alarm. Three attacks are mixed in, each by a principal
with an ordinary history and its ordinary traffic as cover: a rate burst, a sweep of one input with the others
fixed (a model extraction), and a flood of inputs below the training baseline.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from embedded.bench.report import DOCS_DIRECTORY, BenchmarkPage, Column, FigureTable, describe_machine, publish
from embedded.synthetic import CardFraudGenerator
from gpu_workers.training.evaluation import baseline
from leaim.data.features import feature_vector
from leaim.data.privacy import minimize
from leaim.domain.manifests import ManifestCatalog
from leaim.governance.oversight.abuse import AbuseThresholds, judge_window
from leaim.governance.oversight.ports import PrincipalRequest
from leaim.governance.statistics.abuse import baseline_ranges

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from contracts.manifest.v1 import UseCaseManifest
    from embedded.synthetic import Card

USE_CASE = "card_fraud"
TRAINING_ROWS = 20_000
TOKEN_KEY = b"bench-abuse-token-key-of-32-bytes"
# Ordinary principals' levels, requests per window: from a quiet integration to a busy checkout.
LEVELS = (5.0, 400.0)
CARDS_PER_PRINCIPAL = 300
# The attackers' ordinary level, requests per window; how many times it a burst sends; a sweep's and a flood's size.
ATTACKER_LEVEL = 50.0
BURST_FACTOR = 8
ATTACK_REQUESTS = 60
ATTACKS = ("rate", "probing", "out_of_baseline")
ATTACK_NAMES = {
    "rate": f"rate burst ({BURST_FACTOR}x the principal's level of {ATTACKER_LEVEL:g} per window)",
    "probing": f"one-feature sweep ({ATTACK_REQUESTS} amounts, the other inputs fixed)",
    "out_of_baseline": f"flood below the baseline ({ATTACK_REQUESTS} micro-amounts)",
}


@dataclass
class _Principal:
    name: str
    level: float
    cards: list[Card]
    counts: list[int]


@dataclass(frozen=True, slots=True)
class AbuseBenchResult:
    """What a run measured: ordinary principal-windows judged and alarmed (by signal), and each attack's detection."""

    ordinary_windows: int
    false_alarms: int
    false_alarms_by_signal: dict[str, int]
    attacks: dict[str, tuple[int, int]]
    requests: int

    @property
    def false_alarm_rate(self) -> float:
        """Alarms per ordinary principal-window."""
        return self.false_alarms / self.ordinary_windows if self.ordinary_windows else 0.0


def measure(
    *, windows: int, principals: int, seed: int = 23, thresholds: AbuseThresholds | None = None
) -> AbuseBenchResult:
    """Judge `windows` windows of `principals` ordinary principals, each window after `history_windows` of history,
    with one attack of each kind in turn every few windows."""
    settings = thresholds or AbuseThresholds()
    manifest = ManifestCatalog.from_directory(None).get(USE_CASE)
    rng = np.random.default_rng(seed)
    generator = CardFraudGenerator(manifest, seed=seed)
    training = CardFraudGenerator(manifest, seed=seed + 1)
    rows = [
        feature_vector(manifest, t.inputs, t.online) for t in training.transactions(TRAINING_ROWS, training.cards(2000))
    ]
    matrix = np.array(rows, dtype=np.float64)
    ranges = baseline_ranges(baseline(manifest.feature_names, matrix, np.zeros(len(rows))))
    history = settings.history_windows
    total = history + windows
    cast = [_principal(f"service-{index:02d}", rng, generator, total, history) for index in range(principals)]
    attackers = {
        signal: _principal(f"attacker-{signal}", rng, generator, total, history, level=ATTACKER_LEVEL)
        for signal in ATTACKS
    }
    requests_made = 0
    false_alarms = 0
    by_signal = dict.fromkeys(ATTACKS, 0)
    attacks = dict.fromkeys(ATTACKS, (0, 0))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for window in range(history, total):
        at = start + timedelta(seconds=settings.window_s * window)
        # One attack in each of the first windows of every four: rate, probing, flood, then a quiet window.
        signal = ATTACKS[window % 4] if window % 4 < len(ATTACKS) else None
        active = [*cast, *([attackers[signal]] if signal is not None else [])]
        requests: list[PrincipalRequest] = []
        counts: dict[str, list[int]] = {}
        for principal in active:
            inputs = _ordinary(generator, principal, principal.counts[window])
            if signal is not None and principal is attackers[signal]:
                inputs += _attack(signal, generator, principal, rng)
            principal_counts = principal.counts[window - history : window + 1]
            counts[principal.name] = [*principal_counts[:-1], len(inputs)]
            requests += [_request(manifest, principal.name, item, at) for item in inputs]
        requests_made += len(requests)
        findings = judge_window(manifest, ranges, counts, requests, settings)
        flagged = {
            finding.principal: {f.signal for f in findings if f.principal == finding.principal} for finding in findings
        }
        for principal in cast:
            signals = flagged.get(principal.name, set())
            false_alarms += bool(signals)
            for found in signals:
                by_signal[found] += 1
        if signal is not None:
            detected, tried = attacks[signal]
            attacks[signal] = (detected + (signal in flagged.get(attackers[signal].name, set())), tried + 1)
    return AbuseBenchResult(
        ordinary_windows=windows * principals,
        false_alarms=false_alarms,
        false_alarms_by_signal=by_signal,
        attacks=attacks,
        requests=requests_made,
    )


def run_abuse_bench(console: Console, *, windows: int, principals: int, docs_dir: Path | None = DOCS_DIRECTORY) -> int:
    """Measure detection and false alarms; print the tables and write `abuse.md` into `docs_dir` (nothing when None).

    Returns the exit status.
    """
    started_at = datetime.now(UTC)
    settings = AbuseThresholds()
    with console.status(f"Judging {windows} windows of {principals} principals and the attacks..."):
        result = measure(windows=windows, principals=principals, thresholds=settings)
    detection = FigureTable(
        title="Detection of each attack",
        columns=(Column("attack", figures=False), Column("windows"), Column("detected"), Column("rate")),
        rows=[
            (ATTACK_NAMES[signal], f"{tried:,}", f"{detected:,}", f"{detected / tried:.0%}" if tried else "-")
            for signal, (detected, tried) in result.attacks.items()
        ],
        note="An attack is detected when its principal is flagged with the attack's own signal in the attack's window.",
    )
    alarms = FigureTable(
        title="False alarms on ordinary traffic",
        columns=(
            Column("signal", figures=False),
            Column("principal-windows"),
            Column("alarms"),
            Column("per principal-window"),
        ),
        rows=[
            *(
                (signal, f"{result.ordinary_windows:,}", f"{count:,}", f"{count / result.ordinary_windows:.4f}")
                for signal, count in result.false_alarms_by_signal.items()
            ),
            ("any", f"{result.ordinary_windows:,}", f"{result.false_alarms:,}", f"{result.false_alarm_rate:.4f}"),
        ],
        note=(
            f"Each ordinary principal judged in each window (of {settings.window_s} s, after "
            f"{settings.history_windows} windows of history); a principal-window with any alarm counts once under any."
        ),
    )
    thresholds = FigureTable(
        title="Thresholds judged against (the monitor's defaults)",
        columns=(Column("signal", figures=False), Column("flagged when", figures=False)),
        rows=[
            (
                "rate",
                f"at least {settings.rate.floor} requests, {settings.rate.min_ratio:g}x the median past window and "
                f"{settings.rate.min_z:g} robust deviations above it",
            ),
            (
                "probing",
                f"at least {settings.probing.min_requests} requests and {settings.probing.min_share:.0%} of the "
                f"principal's in sweeps of {settings.probing.min_sweep}+ values of one input, the others fixed",
            ),
            (
                "out_of_baseline",
                f"at least {settings.baseline.min_requests} requests and {settings.baseline.min_share:.0%} of the "
                f"principal's outside the training range, {settings.baseline.min_ratio:g}x the share of the others",
            ),
        ],
    )
    page = BenchmarkPage(
        name="abuse",
        title="Inference abuse detection",
        summary=(
            f"The abuse monitor's judgement of {windows:,} windows of seeded ordinary traffic from {principals} "
            f"principals ({result.requests:,} requests in all), each with its own level between {LEVELS[0]:g} and "
            f"{LEVELS[1]:g} requests per window and a day-long swing, drawn by the reference use case's "
            "`CardFraudGenerator` and minimized and featurized as the decision path stores them; against a baseline "
            f"the training worker's own evaluation code built from {TRAINING_ROWS:,} generated rows. Attacks are mixed "
            "in, each sent by a principal with an ordinary history under cover of its ordinary traffic. The store "
            "reads are not part of this run (the integration tests read real SQL stores); the judgement is the "
            "monitor's own `judge_window`."
        ),
        command=f"leaim bench-abuse --windows {windows} --principals {principals}",
        started_at=started_at,
        finished_at=datetime.now(UTC),
        machine=describe_machine(),
        tables=[detection, alarms, thresholds],
        findings=[
            f"False-alarm rate on ordinary traffic: {result.false_alarm_rate:.4f} alarms per principal-window "
            f"({result.false_alarms} in {result.ordinary_windows:,}).",
            "Detected: "
            + "; ".join(
                f"{ATTACK_NAMES[signal]} {detected} of {tried}" for signal, (detected, tried) in result.attacks.items()
            )
            + ".",
        ],
    )
    publish(console, page, docs_dir)
    return 0


def _principal(
    name: str, rng: np.random.Generator, generator: CardFraudGenerator, total: int, history: int, *, level: float = 0.0
) -> _Principal:
    """A principal with its level (given, else log-uniform in `LEVELS`), cards, and its Poisson counts of every
    window, swinging by half its level over each day of `history` windows."""
    level = level or math.exp(rng.uniform(math.log(LEVELS[0]), math.log(LEVELS[1])))
    phase = rng.uniform(0.0, 2 * math.pi)
    counts = [
        int(rng.poisson(level * (1.0 + 0.5 * math.sin(2 * math.pi * window / history + phase))))
        for window in range(total)
    ]
    return _Principal(name, level, generator.cards(CARDS_PER_PRINCIPAL), counts)


Sent = tuple[dict[str, object], dict[str, str | int | float]]


def _ordinary(generator: CardFraudGenerator, principal: _Principal, count: int) -> list[Sent]:
    """`count` ordinary requests of the principal's cards: their inputs and their cards' online features."""
    if not count:
        return []
    return [(dict(item.inputs), item.online) for item in generator.transactions(count, principal.cards)]


def _attack(signal: str, generator: CardFraudGenerator, principal: _Principal, rng: np.random.Generator) -> list[Sent]:
    """The attack's requests on top of the principal's ordinary ones."""
    if signal == "rate":
        return _ordinary(generator, principal, int(rng.poisson(principal.level * BURST_FACTOR)))
    if signal == "probing":
        [(template, online)] = _ordinary(generator, principal, 1)
        return [
            (dict(template, transaction_id=uuid.uuid4().hex, amount=round(5.0 + 17.5 * step, 2)), online)
            for step in range(ATTACK_REQUESTS)
        ]
    flood = _ordinary(generator, principal, ATTACK_REQUESTS)
    return [(dict(inputs, amount=round(0.01 * (index + 1), 2)), online) for index, (inputs, online) in enumerate(flood)]


def _request(manifest: UseCaseManifest, principal: str, sent: Sent, at: datetime) -> PrincipalRequest:
    """A request as the monitor reads it back: minimized inputs and the features the model scored."""
    inputs, online = sent
    return PrincipalRequest(
        decision_id=uuid.uuid4().hex,
        principal=principal,
        occurred_at=at,
        inputs=minimize(manifest, inputs, TOKEN_KEY),
        features=dict(zip(manifest.feature_names, feature_vector(manifest, inputs, online), strict=True)),
    )
