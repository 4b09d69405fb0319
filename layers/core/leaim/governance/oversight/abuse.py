"""The abuse monitor: per principal and use case, request-rate anomalies, probing sweeps and out-of-baseline floods.

Run on a schedule (AbuseMonitorFunction, every five minutes). Per use case with a champion it reads the last
window of decisions with the principal each one's audit event names, judges every principal with requests in it
on the three signals of `leaim.governance.statistics.abuse`, opens one alert per (signal, principal) with its
evidence, closes those whose signal is gone, and keeps a report. A key whose plan throttles on abuse
(`Plan.throttle_on_abuse`) has its rate lowered for a while each run it is flagged; other keys are only alerted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from contracts.governance.v1 import AbuseEvidence, AbuseReport, AbuseThrottle, Alert
from leaim.exceptions import LeaimError
from leaim.governance.access.plans import PLANS
from leaim.governance.statistics.abuse import (
    BaselineThresholds,
    OutOfBaseline,
    ProbingThresholds,
    RateThresholds,
    baseline_flood,
    baseline_ranges,
    out_of_baseline,
    probing,
    rate_anomaly,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from contracts.manifest.v1 import UseCaseManifest
    from leaim.domain.clock import Clock
    from leaim.domain.manifests import ManifestCatalog
    from leaim.governance.access.limits import KeyThrottle
    from leaim.governance.audit.events import ScheduleGate
    from leaim.governance.oversight.ports import OversightStore, PrincipalRequest, RequestHistory
    from leaim.governance.ports import ApiKeyRecord, ApiKeyRegistry
    from leaim.lifecycle.ports import ModelRegistry
    from leaim.serving.ports import ModelRouter

ABUSE_PRINCIPAL = "monitor:abuse"
# The latest requests of a window that a run reads: a trial key's most, many times over, within the function's memory.
MAX_WINDOW_REQUESTS = 100_000
# Decision ids an alert names as samples of its signal.
SAMPLES = 5

Signal = Literal["rate", "probing", "out_of_baseline"]


@dataclass(frozen=True, slots=True)
class AbuseThresholds:
    """The window judged, the history a rate is judged against, each signal's thresholds, and the throttle.

    A flagged key on a plan that throttles on abuse is held to `throttle_factor` of its plan's rate and burst for
    `throttle_s` seconds; each run that flags it again renews the hold.
    """

    window_s: int = 900
    history_windows: int = 96
    rate: RateThresholds = field(default_factory=RateThresholds)
    probing: ProbingThresholds = field(default_factory=ProbingThresholds)
    baseline: BaselineThresholds = field(default_factory=BaselineThresholds)
    throttle_factor: float = 0.1
    throttle_s: int = 3600


@dataclass
class AbuseRun:
    """What one run found and did."""

    reports: list[AbuseReport] = field(default_factory=list)
    opened: list[Alert] = field(default_factory=list)
    closed: int = 0
    throttles: list[AbuseThrottle] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[AbuseEvidence]:
        """Every finding of the run, alerts already open included."""
        return [finding for report in self.reports for finding in report.findings]

    def summary(self) -> dict[str, object]:
        """The run in brief, for its audit event."""
        return {
            "abuse": {report.use_case: report.status for report in self.reports},
            "findings": [
                f"{report.use_case}:{f.signal}:{f.principal}" for report in self.reports for f in report.findings
            ],
            "alerts_opened": [f"{alert.use_case}:{alert.subject}" for alert in self.opened],
            "alerts_closed": self.closed,
            "throttled": [throttle.model_dump(mode="json") for throttle in self.throttles],
            "problems": self.problems,
        }


class AbuseMonitor:
    """Inference abuse monitor over every use case with a champion."""

    def __init__(
        self,
        *,
        catalog: ManifestCatalog,
        router: ModelRouter,
        registry: ModelRegistry,
        requests: RequestHistory,
        store: OversightStore,
        keys: ApiKeyRegistry,
        throttle: KeyThrottle,
        clock: Clock,
        thresholds: AbuseThresholds | None = None,
    ) -> None:
        self._catalog = catalog
        self._router = router
        self._registry = registry
        self._requests = requests
        self._store = store
        self._keys = keys
        self._throttle = throttle
        self._clock = clock
        self.thresholds = thresholds or AbuseThresholds()

    def run(self, use_cases: list[str] | None = None) -> AbuseRun:
        """Judge each use case (all by default); a use case that fails is named in `problems`, the rest go on."""
        run = AbuseRun()
        now = datetime.fromtimestamp(self._clock.now(), UTC)
        keys = _KeysOf(self._keys.records(), now)
        throttled: dict[str, AbuseThrottle] = {}
        for use_case in use_cases if use_cases is not None else self._catalog.names():
            try:
                self._judge(self._catalog.get(use_case), now, keys, throttled, run)
            except (LeaimError, ValueError, KeyError) as error:
                run.problems.append(f"{use_case}: {type(error).__name__}: {error}")
        run.throttles = list(throttled.values())
        return run

    def _judge(
        self,
        manifest: UseCaseManifest,
        now: datetime,
        keys: _KeysOf,
        throttled: dict[str, AbuseThrottle],
        run: AbuseRun,
    ) -> None:
        plan = self._router.plan(manifest.name)
        if plan is None:
            return
        champion = plan.champion
        signed = self._registry.get(champion.name, champion.version)
        if signed is None:
            raise LeaimError(f"champion {champion.name}@{champion.version} is not in the registry")
        settings = self.thresholds
        window = timedelta(seconds=settings.window_s)
        since = now - window
        edges = [now - window * (settings.history_windows + 1 - step) for step in range(settings.history_windows + 2)]
        counts = self._requests.request_counts(manifest.name, edges)
        requests = self._requests.requests(manifest.name, since, now, limit=MAX_WINDOW_REQUESTS)
        window_findings = judge_window(manifest, baseline_ranges(signed.manifest.baseline), counts, requests, settings)
        findings: list[AbuseEvidence] = []
        for finding in window_findings:
            records = keys.of(finding.principal, manifest.name)
            throttles = [self._throttled(record, now, throttled, run) for record in records]
            findings.append(
                AbuseEvidence(
                    signal=finding.signal,
                    principal=finding.principal,
                    key_ids=[record.key_id for record in records],
                    window_start=since,
                    window_end=now,
                    requests=finding.requests,
                    figures=finding.figures,
                    sample_decision_ids=finding.samples[:SAMPLES],
                    throttles=[throttle for throttle in throttles if throttle is not None],
                )
            )
        report = AbuseReport(
            report_id=uuid.uuid4().hex,
            use_case=manifest.name,
            model_version=champion.version,
            window_start=since,
            window_end=now,
            computed_at=now,
            status="abuse" if findings else "clear",
            principals=sum(windows[-1] > 0 for windows in counts.values()),
            requests=sum(windows[-1] for windows in counts.values()),
            findings=findings,
        )
        self._store.save_report("abuse", report)
        run.reports.append(report)
        still_open: list[tuple[str, str]] = []
        for evidence in findings:
            alert = _alert(manifest.name, champion.version, evidence, report, now)
            still_open.append((champion.version, alert.subject))
            if self._store.open_alert(alert):
                run.opened.append(alert)
        run.closed += self._store.close_alerts(manifest.name, "abuse", still_open=still_open, at=now)

    def _throttled(
        self, record: ApiKeyRecord, now: datetime, throttled: dict[str, AbuseThrottle], run: AbuseRun
    ) -> AbuseThrottle | None:
        """Lower the key's rate when its plan throttles on abuse (once per run, whatever it was flagged for)."""
        if record.key_id in throttled:
            return throttled[record.key_id]
        plan = PLANS.get(record.plan)
        if plan is None or not plan.throttle_on_abuse or plan.rate_per_s is None:
            return None
        settings = self.thresholds
        hold = AbuseThrottle(
            key_id=record.key_id,
            plan=plan.name,
            rate_per_s=plan.rate_per_s * settings.throttle_factor,
            burst=max(1, int(plan.burst * settings.throttle_factor)),
            until=now + timedelta(seconds=settings.throttle_s),
        )
        try:
            self._throttle.throttle(
                record.key_id, rate_per_s=hold.rate_per_s, burst=hold.burst, until=hold.until.timestamp()
            )
        except LeaimError as error:
            run.problems.append(f"key {record.key_id} was not throttled: {type(error).__name__}: {error}")
            return None
        throttled[record.key_id] = hold
        return hold


@dataclass(frozen=True, slots=True)
class Finding:
    """One signal of one principal in one window: its figures against their thresholds, and sample decisions."""

    principal: str
    signal: Signal
    requests: int
    figures: dict[str, float | int | str]
    samples: list[str]


def judge_window(
    manifest: UseCaseManifest,
    ranges: Mapping[str, tuple[float, float]],
    counts: Mapping[str, Sequence[int]],
    requests: Sequence[PrincipalRequest],
    thresholds: AbuseThresholds,
) -> list[Finding]:
    """Every signal of every principal in one window of a use case.

    `ranges` are the champion's training ranges per feature; `counts` hold each principal's requests per window,
    the history first and the judged window last; `requests` are the judged window's decisions.
    """
    by_principal: dict[str, list[PrincipalRequest]] = {}
    for request in requests:
        by_principal.setdefault(request.principal, []).append(request)
    outside = {name: out_of_baseline([r.features for r in mine], ranges) for name, mine in by_principal.items()}
    fields = probe_fields(manifest)
    empty = [0] * (thresholds.history_windows + 1)
    findings: list[Finding] = []
    for principal in sorted(set(by_principal) | {name for name, windows in counts.items() if windows[-1] > 0}):
        mine = by_principal.get(principal, [])
        windows = counts.get(principal, empty)
        sent = max(len(mine), windows[-1])
        for signal, figures, samples in (
            *_rate(windows, mine, thresholds),
            *_probing(mine, fields, thresholds.probing),
            *_outside(principal, mine, outside, thresholds.baseline),
        ):
            findings.append(Finding(principal, signal, sent, figures, samples))
    return findings


Measured = tuple[Signal, dict[str, float | int | str], list[str]]


def _rate(windows: Sequence[int], mine: Sequence[PrincipalRequest], settings: AbuseThresholds) -> list[Measured]:
    thresholds = settings.rate
    measured = rate_anomaly(windows[-1], windows[:-1], thresholds)
    if not measured.anomalous:
        return []
    figures: dict[str, float | int | str] = {
        "requests": measured.requests,
        "history_median": measured.median,
        "history_mad": measured.mad,
        "spread": round(measured.spread, 3),
        "ratio": round(measured.ratio, 2),
        "z": round(measured.z, 2),
        "floor": thresholds.floor,
        "min_ratio": thresholds.min_ratio,
        "min_z": thresholds.min_z,
        "window_s": settings.window_s,
        "history_windows": len(windows) - 1,
    }
    return [("rate", figures, [request.decision_id for request in reversed(mine)])]


def _probing(mine: Sequence[PrincipalRequest], fields: Sequence[str], thresholds: ProbingThresholds) -> list[Measured]:
    measured = probing([request.inputs for request in mine], fields, thresholds)
    if not measured.probing:
        return []
    figures: dict[str, float | int | str] = {
        "requests_in_sweeps": measured.in_sweeps,
        "share": round(measured.share, 4),
        "largest_sweep": measured.largest,
        "swept_field": measured.largest_field or "",
        "swept_fields": ",".join(sorted(measured.swept)),
        "min_sweep": thresholds.min_sweep,
        "min_requests": thresholds.min_requests,
        "min_share": thresholds.min_share,
    }
    return [("probing", figures, [mine[index].decision_id for index in measured.members])]


def _outside(
    principal: str,
    mine: Sequence[PrincipalRequest],
    outside: Mapping[str, OutOfBaseline],
    thresholds: BaselineThresholds,
) -> list[Measured]:
    measured = outside.get(principal)
    if measured is None:
        return []
    others = OutOfBaseline(
        requests=sum(item.requests for name, item in outside.items() if name != principal),
        outside=[index for name, item in outside.items() if name != principal for index in item.outside],
        features={},
    )
    if not baseline_flood(measured, others, thresholds):
        return []
    figures: dict[str, float | int | str] = {
        "outside": len(measured.outside),
        "scored": measured.requests,
        "share": round(measured.share, 4),
        "others_share": round(others.share, 4),
        "features": ",".join(sorted(measured.features, key=lambda name: (-measured.features[name], name))),
        "min_requests": thresholds.min_requests,
        "min_share": thresholds.min_share,
        "min_ratio": thresholds.min_ratio,
    }
    return [("out_of_baseline", figures, [mine[index].decision_id for index in measured.outside])]


class _KeysOf:
    """Each principal's keys that authenticate now, newest secret per key, read once per run."""

    def __init__(self, records: Sequence[ApiKeyRecord], now: datetime) -> None:
        newest: dict[str, ApiKeyRecord] = {}
        for record in records:
            if record.valid_at(now) and (
                record.key_id not in newest or record.generation > newest[record.key_id].generation
            ):
                newest[record.key_id] = record
        self._by_principal: dict[str, list[ApiKeyRecord]] = {}
        for record in sorted(newest.values(), key=lambda item: item.key_id):
            self._by_principal.setdefault(record.principal, []).append(record)

    def of(self, principal: str, use_case: str) -> list[ApiKeyRecord]:
        """The principal's keys scoped to `use_case`."""
        return [record for record in self._by_principal.get(principal, []) if record.principal_of().may_use(use_case)]


def probe_fields(manifest: UseCaseManifest) -> list[str]:
    """The inputs a sweep is looked for in: the entity key and every input a feature reads.

    Inputs no feature reads (the caller's transaction id, a name, a protected attribute) are left out: a caller
    sends a fresh transaction id with every request, and comparing it would hide every sweep.
    """
    inputs = [item.name for item in manifest.inputs]
    read = {manifest.entity_key} | {name for f in manifest.features for name in (f.source, f.other) if name is not None}
    return [name for name in inputs if name in read]


def _alert(use_case: str, version: str, finding: AbuseEvidence, report: AbuseReport, now: datetime) -> Alert:
    return Alert(
        alert_id=uuid.uuid4().hex,
        use_case=use_case,
        kind="abuse",
        model_version=version,
        subject=f"{finding.signal}:{finding.principal}",
        message=_message(finding),
        opened_at=now,
        report_id=report.report_id,
        evidence=finding,
    )


def _message(finding: AbuseEvidence) -> str:
    figures = finding.figures
    if finding.signal == "rate":
        text = (
            f"{finding.principal} sent {figures['requests']} requests in {figures['window_s']} s, "
            f"{figures['ratio']}x its median window ({figures['history_median']}), z {figures['z']}"
        )
    elif finding.signal == "probing":
        text = (
            f"{finding.principal} swept {figures['swept_field']} over {figures['largest_sweep']} values with the "
            f"other inputs fixed: {figures['requests_in_sweeps']} requests in sweeps ({figures['share']:.0%})"
        )
    else:
        text = (
            f"{finding.principal} sent {figures['outside']} requests outside the training baseline "
            f"({figures['share']:.0%} against {figures['others_share']:.1%} of other traffic): {figures['features']}"
        )
    if finding.throttles:
        text += "; throttled " + ", ".join(f"{t.key_id} to {t.rate_per_s:g}/s" for t in finding.throttles)
    return text


def run_abuse_monitor(monitor: AbuseMonitor, gate: ScheduleGate, invocation_id: str) -> AbuseRun:
    """One scheduled abuse run, recorded in one audit event: its findings, alerts and throttles, or its error."""
    with gate.run("abuse.run", "abuse.run", invocation_id, principal=ABUSE_PRINCIPAL, role="monitor") as audit:
        with audit.failures_audited():
            run = monitor.run()
        if run.problems:
            audit.store("error", error="; ".join(run.problems)[:2000], details=run.summary())
        else:
            audit.store("success", details=run.summary())
        return run
