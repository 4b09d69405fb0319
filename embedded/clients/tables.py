"""The APIs' answers as rich tables, for the `leaim` commands and `leaim demo --drift`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from rich.console import Console

    from contracts.governance.v1 import (
        Alert,
        BiasReport,
        CoverageReport,
        DriftReport,
        LegalHoldList,
        ProcessKpis,
        QualityReport,
        Review,
        UsageReport,
        UseCaseEvidence,
    )
    from contracts.replay.v1 import DecisionReplay, ReplayBinding, ReplayOutcome


def percent(share: float | None) -> str:
    """A share as a percentage; `-` when it could not be measured."""
    return "-" if share is None else f"{share:.1%}"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _time(moment: object) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def rows_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    """A table of rows; values are shown as text, never as markup."""
    table = Table(title=title)
    for name in header:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if value is None else str(value)) for value in row))
    return table


def facts_table(title: str, facts: Mapping[str, object]) -> Table:
    """A two-column table of named values; values are shown as text, never as markup."""
    table = Table(title=title, show_header=False, min_width=len(title))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in facts.items():
        table.add_row(name, Text(str(value)))
    return table


def print_coverage(console: Console, report: CoverageReport) -> None:
    """The governance coverage report: the shares measured, what is missing, and the open alerts."""
    table = Table(title=f"Governance coverage, {_time(report.since)} to {_time(report.until)} UTC")
    for column in ("measure", "covered", "of", "share"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    measures = (
        ("invocations with their audit event", report.invocations_audited, report.invocations, report.audit_coverage),
        ("decisions that can be explained", report.decisions_explained, report.decisions, report.explanation_coverage),
        ("live versions governed", report.live_versions_governed, report.live_versions, report.version_coverage),
    )
    for name, covered, whole, share in measures:
        table.add_row(name, str(covered), str(whole), percent(share))
    table.add_row("coverage ratio", "", "", percent(report.coverage_ratio))
    console.print(table)
    lag = report.audit_lag
    if lag is not None:
        console.print(
            f"Audit lag, acceptance to chain: {lag.events} events in {lag.batches} writer transactions; "
            f"p50 {_seconds(lag.lag_p50_s)}, p99 {_seconds(lag.lag_p99_s)}, max {_seconds(lag.lag_max_s)}",
            markup=False,
            highlight=False,
        )
    for title, items in (
        ("Invocations without an audit event", report.unaudited_invocations),
        ("Live versions not governed", report.ungoverned_versions),
    ):
        if items:
            console.print(f"{title}:", markup=False, highlight=False)
            for item in items:
                console.print(f"  {item}", markup=False, highlight=False)
    console.print(alerts_table(f"Open alerts: {len(report.open_alerts)}", report.open_alerts))
    console.print(kpis_table("Process KPIs", report.kpis))
    for evidence in report.evidence:
        console.print(evidence_table(evidence))


def evidence_table(evidence: UseCaseEvidence) -> Table:
    """The compliance map of one use case: each item's status, and what answers it or what is missing."""
    rows = [
        (item.anchor, item.status, item.evidence if item.status == "evidence" else "; ".join(item.gaps))
        for item in evidence.items
    ]
    title = (
        f"Evidence for {evidence.use_case}: {len(evidence.items) - evidence.gaps} items covered, {evidence.gaps} gaps"
    )
    return rows_table(title, ("requirement", "status", "evidence or gap"), rows)


def holds_table(listed: LegalHoldList) -> Table:
    """A use case's legal holds: who placed each, when and why, and its release."""
    rows = [
        (
            hold.hold_id,
            f"{hold.placed_at:%Y-%m-%d %H:%M} by {hold.placed_by}",
            hold.reason,
            "on" if hold.released_at is None else f"released {hold.released_at:%Y-%m-%d %H:%M} by {hold.released_by}",
        )
        for hold in listed.holds
    ]
    state = "held: the purge removes nothing of it" if listed.held else "not held"
    return rows_table(f"Legal holds of {listed.use_case}: {state}", ("hold", "placed", "reason", "state"), rows)


def kpis_table(title: str, rows: Sequence[ProcessKpis]) -> Table:
    """The process KPIs of each use case: one row each."""
    header = (
        "use case",
        "promotions",
        "per week",
        "lead time p50",
        "rollbacks",
        "change failure",
        "time to recovery",
        "training jobs",
        "retraining every",
        "decisions",
        "review",
        "override",
    )
    shown = [
        (
            kpis.use_case,
            kpis.promotions,
            f"{kpis.deployments_per_week:.2f}",
            _hours(kpis.lead_time_p50_hours),
            kpis.rollbacks,
            percent(kpis.change_failure_rate),
            _hours(kpis.mean_time_to_recovery_hours),
            kpis.training_jobs,
            _days(kpis.retraining_interval_days),
            kpis.decisions,
            percent(kpis.review_rate),
            percent(kpis.override_rate),
        )
        for kpis in rows
    ]
    return rows_table(title, header, shown)


def kpis_facts(kpis: ProcessKpis) -> Table:
    """One use case's process KPIs, each with what it counts."""
    triggers = ", ".join(f"{trigger} {count}" for trigger, count in kpis.training_jobs_by_trigger.items()) or "none"
    cadence = kpis.retraining_interval_days
    facts: dict[str, object] = {
        "new champions": kpis.promotions,
        "deployments": f"{kpis.deployments} (champions and challengers)",
        "deployment frequency": f"{kpis.deployments_per_week:.2f} new champions per week",
        "lead time": f"p50 {_hours(kpis.lead_time_p50_hours)}, max {_hours(kpis.lead_time_max_hours)}",
        "rollbacks": kpis.rollbacks,
        "change failure rate": percent(kpis.change_failure_rate),
        "time to recovery": f"{_hours(kpis.mean_time_to_recovery_hours)} over {kpis.alerts_closed} closed alerts",
        "alerts": f"{kpis.alerts_opened} opened, {kpis.alerts_closed} closed, {kpis.alerts_open} open at the end",
        "training jobs": f"{kpis.training_jobs} ({triggers}), {kpis.versions_trained} approved",
        "retraining cadence": "-" if cadence is None else f"every {_days(cadence)}",
        "decisions": kpis.decisions,
        "review rate": percent(kpis.review_rate),
        "override rate": percent(kpis.override_rate),
    }
    return facts_table(f"Process KPIs of {kpis.use_case}, {_time(kpis.since)} to {_time(kpis.until)} UTC", facts)


def _days(value: float | None) -> str:
    """Days, or hours (and minutes) under one day; `-` when not measured."""
    if value is None:
        return "-"
    return _hours(value * 24) if value < 1 else f"{value:.1f} d"


def _hours(value: float | None) -> str:
    """Hours, or minutes under one hour; `-` when not measured."""
    if value is None:
        return "-"
    return f"{value * 60:.1f} min" if value < 1 else f"{value:.1f} h"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def alerts_table(title: str, alerts: Sequence[Alert]) -> Table:
    """Alerts, newest first as the API lists them."""
    rows = [
        (_time(a.opened_at), _time(a.closed_at), a.kind, a.model_version, a.subject, a.message, a.alert_id[:12])
        for a in alerts
    ]
    return rows_table(title, ("opened", "closed", "kind", "version", "subject", "message", "alert"), rows)


def drift_table(report: DriftReport) -> Table:
    """Each feature's PSI and test against the version's training baseline, then the score's."""
    title = (
        f"Drift of {report.model_name} {report.model_version} ({report.role}) over {report.rows} decisions, "
        f"{_time(report.window_start)} to {_time(report.window_end)}: {report.status}"
    )
    table = Table(title=title)
    for column in ("feature", "test", "PSI", "p-value", "drifted"):
        table.add_column(column, justify="left" if column in ("feature", "test") else "right")
    for feature in [*report.features, *([report.score] if report.score else [])]:
        table.add_row(
            feature.feature,
            feature.test,
            f"{feature.psi:.3f}",
            f"{feature.p_value:.1e}",
            "yes" if feature.drifted else "",
        )
    return table


def drift_history_table(use_case: str, reports: Sequence[DriftReport]) -> Table:
    """One line per stored drift report, newest first."""
    rows = [
        (
            _time(r.computed_at),
            r.model_version,
            r.role,
            r.status,
            r.rows,
            ", ".join(r.drifted_features) or "-",
            r.retraining_job_id or "-",
        )
        for r in reports
    ]
    header = ("computed", "version", "role", "status", "rows", "drifted features", "retraining job")
    return rows_table(f"Drift reports of {use_case}", header, rows)


def bias_table(report: BiasReport) -> Table:
    """Per protected attribute and version: each group's favourable rate, disparate impact and equal opportunity."""
    rows = []
    for item in report.indicators:
        groups = "; ".join(
            f"{g.group}: {g.rows} rows, {g.favorable_rate:.2f} favourable"
            + ("" if g.true_favorable_rate is None else f", {g.true_favorable_rate:.2f} of the truly favourable")
            for g in item.groups
        )
        rows.append(
            (
                item.attribute,
                item.model_version,
                groups or "-",
                _number(item.disparate_impact),
                _number(item.equal_opportunity_difference),
                "; ".join(item.alerts) or "-",
            )
        )
    title = (
        f"Bias of {report.use_case}, {_time(report.window_start)} to {_time(report.window_end)} "
        f"(disparate impact at least {report.min_disparate_impact:g}, equal opportunity difference at most "
        f"{report.max_equal_opportunity_difference:g}, groups of {report.min_group_rows}+ rows)"
    )
    header = ("attribute", "version", "groups", "disparate impact", "equal opportunity diff", "alerts")
    return rows_table(title, header, rows)


def quality_table(report: QualityReport) -> Table:
    """AUC, precision and recall per version and time bucket, from recorded outcomes."""
    rows = [
        (
            p.model_version,
            _time(p.start),
            _time(p.end),
            p.rows,
            p.positives,
            _number(p.auc),
            _number(p.precision),
            _number(p.recall),
        )
        for p in report.points
    ]
    title = f"Quality of {report.use_case} at threshold {report.threshold:g}, {report.bucket_minutes}-minute buckets"
    header = ("version", "from", "to", "outcomes", "positive", "AUC", "precision", "recall")
    return rows_table(title, header, rows)


def usage_table(report: UsageReport) -> Table:
    """Decisions per use case, version and principal, with latency and rates."""
    rows = [
        (
            r.use_case,
            r.model_version or "-",
            r.principal or "-",
            r.decisions,
            f"{r.latency_p50_ms:.1f} / {r.latency_p95_ms:.1f} / {r.latency_p99_ms:.1f}",
            percent(r.fallback_rate),
            percent(r.review_rate),
            percent(r.override_rate),
        )
        for r in report.rows
    ]
    header = ("use case", "version", "principal", "decisions", "p50 / p95 / p99 ms", "fallback", "review", "override")
    return rows_table(f"Usage, {_time(report.since)} to {_time(report.until)} UTC", header, rows)


def reviews_table(title: str, reviews: Sequence[Review]) -> Table:
    """Reviews, one line each."""
    rows = [
        (
            r.review_id,
            r.use_case,
            _time(r.decided_at),
            r.outcome,
            _number(r.score),
            r.model.version if r.model else "-",
            r.status,
            "; ".join(reason.message for reason in r.reasons)[:120] or "-",
        )
        for r in reviews
    ]
    header = ("review", "use case", "decided", "outcome", "score", "version", "status", "reasons")
    return rows_table(title, header, rows)


def _binding(binding: ReplayBinding) -> tuple[str, str]:
    policy = binding.policy
    if policy is None:
        shown = "not recorded"
    elif policy.version is None:
        shown = f"bootstrap file ({policy.digest[:12]})"
    else:
        shown = f"version {policy.version} ({policy.digest[:12]})"
    model = binding.model
    return shown, "-" if model is None else f"{model.name} {model.version} ({model.artifact_digest[:12]})"


def _decided(side: ReplayOutcome) -> tuple[str, ...]:
    fallback = f"yes: {side.fallback_reason}" if side.fallback else "no"
    return (side.outcome, _number(side.score), "yes" if side.review_required else "no", fallback)


def replay_table(report: DecisionReplay) -> Table:
    """A replay side by side: the policy, model, outcome, score, review, fallback and reasons of each side."""
    made, replayed = _binding(report.made_with), _binding(report.replayed_with)
    names = ("policy", "model", "outcome", "score", "review required", "fallback", "reason codes")
    made_values = (*made, *_decided(report.original), ", ".join(report.original.reason_codes) or "-")
    replayed_values = (*replayed, *_decided(report.replayed), ", ".join(report.replayed.reason_codes) or "-")
    rows = list(zip(names, made_values, replayed_values, strict=True))
    title = f"Replay of decision {report.decision_id} ({report.use_case})"
    return rows_table(title, ("", "made with", "replayed with"), rows)


def differences_table(report: DecisionReplay) -> Table:
    """What differs between a decision and its replay, a field a line, with why."""
    rows = [
        (difference.field, _shown(difference.original), _shown(difference.replayed), difference.why)
        for difference in report.differences
    ]
    return rows_table(f"Differences: {len(rows)}", ("field", "made", "replayed", "why"), rows)


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    return str(value)
