"""`leaim governance report`, `kpis`, `holds`, `hold` and `release`, and `outcome`, `reviews`, `review`, `drift`,
`bias`, `quality`, `alerts`, `usage`.

Each calls the governance API, local or deployed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from embedded.cli.options import api_client, api_options, instant, positive
from embedded.clients.tables import (
    alerts_table,
    bias_table,
    drift_history_table,
    drift_table,
    facts_table,
    holds_table,
    kpis_facts,
    print_coverage,
    quality_table,
    reviews_table,
    usage_table,
)

if TYPE_CHECKING:
    import argparse

    from rich.console import Console

    from embedded.cli.options import Commands
    from embedded.clients.governance import GovernanceClient


def register(commands: Commands) -> None:
    """Add the governance commands: `governance report` and `kpis`, `outcome`, `reviews`, `review` and the reports."""
    governance = commands.add_parser("governance", help="governance reports")
    reports = governance.add_subparsers(dest="governance_command", required=True)
    report = reports.add_parser(
        "report", help="the governance coverage report; exit 1 when an invocation has no audit event"
    )
    _window(report, "a day")
    api_options(report, "auditor")
    report.set_defaults(run=_coverage)
    kpis = reports.add_parser("kpis", help="a use case's process KPIs: deployments, lead time, failures, recovery")
    kpis.add_argument("use_case")
    _window(kpis, "30 days")
    api_options(kpis, "auditor")
    kpis.set_defaults(run=_kpis)
    _register_holds(reports)
    outcome = commands.add_parser("outcome", help="record the ground truth of a decision")
    outcome.add_argument("decision_id")
    outcome.add_argument("--label", required=True, choices=["true", "false"], help="true when the target was positive")
    outcome.add_argument("--source", help="where the truth comes from, e.g. chargebacks")
    outcome.add_argument("--observed-at", type=instant, help="when the truth became known (default: now)")
    api_options(outcome, "decision_client")
    outcome.set_defaults(run=_outcome)
    reviews = commands.add_parser("reviews", help="list the decisions waiting for a reviewer, oldest first")
    reviews.add_argument("--use-case")
    reviews.add_argument("--limit", type=positive, default=50, help="reviews to list (default: 50, at most 1000)")
    api_options(reviews, "reviewer")
    reviews.set_defaults(run=_reviews)
    review = commands.add_parser("review", help="show a review, or decide it with --outcome and --justification")
    review.add_argument("review_id", help="the review's id: the decision's id")
    review.add_argument("--outcome", help="the final outcome, one of the use case's outcomes")
    review.add_argument("--justification", help="why, in at least ten characters")
    api_options(review, "reviewer")
    review.set_defaults(run=_review, check=_decision_options)
    for name, what, run in (
        ("drift", "show the latest drift report of each live version, and the history", _drift),
        ("bias", "show the latest bias indicators per protected attribute and version", _bias),
        ("quality", "show AUC, precision and recall per version over time, from recorded outcomes", _quality),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("use_case")
        api_options(command, "auditor")
        command.set_defaults(run=run)
        if name == "quality":
            _window(command, "a day")
            command.add_argument("--bucket-minutes", type=positive, help="bucket width (default: 60)")
    alerts = commands.add_parser("alerts", help="list open drift and bias alerts")
    alerts.add_argument("--use-case")
    alerts.add_argument("--all", action="store_true", help="closed alerts too")
    api_options(alerts, "auditor")
    alerts.set_defaults(run=_alerts)
    usage = commands.add_parser("usage", help="decisions per use case, version and principal")
    usage.add_argument("--use-case")
    _window(usage, "a day")
    api_options(usage, "auditor")
    usage.set_defaults(run=_usage)


def _window(command: argparse.ArgumentParser, default: str) -> None:
    command.add_argument("--since", type=instant, help=f"start (default: {default} before --until)")
    command.add_argument("--until", type=instant, help="end, exclusive (default: now)")


def _decision_options(arguments: argparse.Namespace) -> str | None:
    """`leaim review` decides a review with both `--outcome` and `--justification`, or shows it with neither."""
    if (arguments.outcome is None) != (arguments.justification is None):
        return "--outcome and --justification go together"
    return None


def _governance(arguments: argparse.Namespace) -> GovernanceClient:
    """The governance API that the command's `--api-url` and `--api-key` name, else the local stack's."""
    from embedded.clients.governance import GovernanceClient

    return api_client(GovernanceClient, arguments)


def _coverage(arguments: argparse.Namespace, console: Console) -> int:
    """0 when every invocation in the range has its audit event, 1 when one has none."""
    client = _governance(arguments)
    report = client.coverage(since=arguments.since, until=arguments.until)
    print_coverage(console, report)
    if report.audit_coverage is None:
        console.print("No invocations in the range.", markup=False, highlight=False)
        return 0
    return 0 if report.audit_coverage == 1.0 else 1


def _kpis(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    console.print(kpis_facts(client.kpis(arguments.use_case, since=arguments.since, until=arguments.until)))
    return 0


def _register_holds(reports: Commands) -> None:
    """Add `governance holds`, `hold` and `release`."""
    holds = reports.add_parser("holds", help="a use case's legal holds, and whether the purge is held")
    holds.add_argument("use_case")
    api_options(holds, "auditor")
    holds.set_defaults(run=_holds)
    hold = reports.add_parser("hold", help="place a legal hold: nothing of the use case is purged until it is released")
    hold.add_argument("use_case")
    hold.add_argument("--reason", required=True, help="the matter the records are held for")
    api_options(hold, "auditor")
    hold.set_defaults(run=_hold)
    release = reports.add_parser("release", help="release a legal hold")
    release.add_argument("use_case")
    release.add_argument("hold_id")
    release.add_argument("--reason", required=True, help="why the hold ends")
    api_options(release, "auditor")
    release.set_defaults(run=_release)


def _holds(arguments: argparse.Namespace, console: Console) -> int:
    listed = _governance(arguments).legal_holds(arguments.use_case)
    console.print(holds_table(listed))
    return 0


def _hold(arguments: argparse.Namespace, console: Console) -> int:
    hold = _governance(arguments).place_legal_hold(arguments.use_case, arguments.reason)
    console.print(
        f"placed legal hold {hold.hold_id} on {hold.use_case}: nothing of it is purged until it is released",
        markup=False,
        highlight=False,
    )
    return 0


def _release(arguments: argparse.Namespace, console: Console) -> int:
    hold = _governance(arguments).release_legal_hold(arguments.use_case, arguments.hold_id, arguments.reason)
    console.print(f"released legal hold {hold.hold_id} on {hold.use_case}", markup=False, highlight=False)
    return 0


def _outcome(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    recorded, created = client.record_outcome(
        arguments.decision_id, arguments.label == "true", observed_at=arguments.observed_at, source=arguments.source
    )
    model = f"{recorded.model.name} {recorded.model.version}" if recorded.model else "no model"
    score = "-" if recorded.score is None else f"{recorded.score:.3f}"
    facts = {
        "label": str(recorded.label).lower(),
        "source": recorded.source or "-",
        "observed": f"{recorded.observed_at:%Y-%m-%d %H:%M:%S}",
        "decided": f"{recorded.outcome} by {model}, score {score}",
        "reported by": recorded.reported_by,
        "recorded": f"{recorded.recorded_at:%Y-%m-%d %H:%M:%S}" + ("" if created else " (already, unchanged)"),
    }
    console.print(facts_table(f"Outcome of decision {recorded.decision_id}", facts))
    return 0


def _reviews(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    page = client.reviews(arguments.use_case, limit=min(arguments.limit, 1000))
    more = " (more follow: raise --limit)" if page.next_cursor else ""
    console.print(reviews_table(f"Pending reviews: {len(page.reviews)}{more}", page.reviews))
    return 0


def _review(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    if arguments.outcome is None:
        review = client.review(arguments.review_id)
    else:
        review = client.override(arguments.review_id, arguments.outcome, arguments.justification)
    model = f"{review.model.name} {review.model.version}" if review.model else "-"
    facts: dict[str, object] = {
        "decision": review.decision_id,
        "use case": review.use_case,
        "status": review.status,
        "decided": f"{review.decided_at:%Y-%m-%d %H:%M:%S} by {model}",
        "outcome": review.outcome,
        "score": "-" if review.score is None else f"{review.score:.3f}",
        "reasons": "; ".join(reason.message for reason in review.reasons) or "-",
        "inputs": json.dumps(review.inputs, sort_keys=True),
    }
    if review.override is not None:
        override = review.override
        facts["override"] = f"{override.original_outcome} -> {override.outcome} by {override.reviewer}"
        facts["justification"] = override.justification
        facts["reviewed"] = f"{override.reviewed_at:%Y-%m-%d %H:%M:%S}, audit event {override.event_id}"
    console.print(facts_table(f"Review {review.review_id}", facts))
    return 0


def _drift(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    reports = client.drift(arguments.use_case)
    if not reports.latest:
        console.print(f"No drift report for {reports.use_case} yet: the monitor has not run on it.", markup=False)
        return 0
    for report in reports.latest:
        console.print(drift_table(report))
    console.print(drift_history_table(reports.use_case, reports.history))
    return 0


def _bias(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    console.print(bias_table(client.bias(arguments.use_case)))
    return 0


def _quality(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    report = client.quality(
        arguments.use_case, since=arguments.since, until=arguments.until, bucket_minutes=arguments.bucket_minutes
    )
    console.print(quality_table(report))
    return 0


def _alerts(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    alerts = client.alerts(arguments.use_case, include_closed=arguments.all).alerts
    console.print(alerts_table(f"{'Alerts' if arguments.all else 'Open alerts'}: {len(alerts)}", alerts))
    return 0


def _usage(arguments: argparse.Namespace, console: Console) -> int:
    client = _governance(arguments)
    console.print(usage_table(client.usage(since=arguments.since, until=arguments.until, use_case=arguments.use_case)))
    return 0
